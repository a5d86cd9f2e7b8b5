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
    `det trial logs ${trialId}`,
  ];
}

/** Five lines of TypeScript that pick, download and load the same checkpoint. */
export function sdkSnippet({ master, trialId }: NextStepsInput): string[] {
  return [
    `import { TrialReference } from '@determined-ts/sdk';`,
    `const trial = new TrialReference(${trialId}, { master: '${master}' });`,
    `const best = await trial.topCheckpoint(); // by the searcher metric, ${SEARCHER_METRIC}`,
    `const loaded = await best.load(); // downloads to checkpoints/<uuid>, then loads it`,
    `if (loaded.kind === 'tfjs' && loaded.format === 'layers-model') loaded.model.summary();`,
  ];
}
