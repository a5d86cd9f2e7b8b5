import { DEMO_ALIAS, DEMO_MODEL } from './register.js';
import { SEARCHER_METRIC } from './train.js';

export interface NextStepsInput {
  master: string;
  experimentId: number;
  trialId: number;
  bestUuid: string;
}

/** The tour's steps 3 and 4 as `det` commands, to run against the same master. */
export function detCommands({ master, experimentId, trialId, bestUuid }: NextStepsInput): string[] {
  return [
    `export DET_MASTER=${master}`,
    `det experiment list-checkpoints ${experimentId} --best 3`,
    `det trial describe ${trialId}`,
    `det trial download ${trialId} --best -o checkpoints/best`,
    `det trial download ${trialId} --latest -o checkpoints/latest`,
    `det checkpoint load ${bestUuid}`,
    `det model describe ${DEMO_MODEL}`,
    `det model download ${DEMO_MODEL}@${DEMO_ALIAS} -o checkpoints/production`,
    `det trial logs ${trialId}`,
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
