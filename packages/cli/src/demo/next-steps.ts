import { DEMO_ALIAS, DEMO_MODEL } from './register.js';
import { SEARCHER_METRIC } from './train.js';

export interface NextStepsInput {
  master: string;
  experimentId: number;
  trialId: number;
  bestUuid: string;
}

/**
 * The tour's steps 3 and 4 as `det` commands, to run against the same master. Through npx, so
 * that they run as printed wherever the tour came from: the clone (`npm start`, where `det`
 * is not on the PATH) or a project that installed @determined-ts/cli.
 */
export function detCommands({ master, experimentId, trialId, bestUuid }: NextStepsInput): string[] {
  return [
    `export DET_MASTER=${master}`,
    `npx det experiment list-checkpoints ${experimentId} --best 3`,
    `npx det trial describe ${trialId}`,
    `npx det trial download ${trialId} --best -o checkpoints/best`,
    `npx det trial download ${trialId} --latest -o checkpoints/latest`,
    `npx det checkpoint load ${bestUuid}`,
    `npx det model describe ${DEMO_MODEL}`,
    `npx det model download ${DEMO_MODEL}@${DEMO_ALIAS} -o checkpoints/production`,
    `npx det trial logs ${trialId}`,
  ];
}

/** TypeScript that picks, downloads and loads the same checkpoint: by trial, then by alias. */
export function sdkSnippet({ master, trialId }: NextStepsInput): string[] {
  return [
    `import { Determined, TrialReference } from '@determined-ts/sdk';`,
    `const trial = new TrialReference(${trialId}, { master: '${master}' });`,
    `const best = await trial.topCheckpoint(); // by the searcher metric, ${SEARCHER_METRIC}`,
    `const loaded = await best.load(); // downloads to checkpoints/<uuid>, then loads it`,
    `if (loaded.kind === 'tfjs' && loaded.format === 'layers-model') loaded.model.summary();`,
    `// or what a service serves: whatever version ${DEMO_ALIAS} points at today`,
    `const model = await new Determined({ master: '${master}' }).getModel('${DEMO_MODEL}');`,
    `const serving = await (await model.getVersion('${DEMO_ALIAS}')).checkpoint.load();`,
  ];
}
