import { join } from 'node:path';

import { TrialReference } from '@determined-ts/sdk';
import type { Checkpoint, FetchLike } from '@determined-ts/sdk';

import type { Split } from './dataset.js';
import { evaluate } from './model.js';
import type { StepPrinter } from './steps.js';
import { SEARCHER_METRIC } from './train.js';

export interface BestOptions {
  master: string;
  env: NodeJS.ProcessEnv;
  fetch: FetchLike | undefined;
  trialId: number;
  /** The best checkpoint is downloaded under `<workDir>/downloads/<uuid>`. */
  workDir: string;
  test: Split;
  classCount: number;
}

export interface BestResult {
  best: Checkpoint;
  latest: Checkpoint;
  downloadedTo: string;
  testAccuracy: number;
}

/** A validation metric a checkpoint carries, as reported with it. */
function reported(checkpoint: Checkpoint, name: string): number | undefined {
  const value = checkpoint.validation?.metrics.validationMetrics[name];
  return typeof value === 'number' ? value : undefined;
}

function describe(checkpoint: Checkpoint): string {
  const loss = reported(checkpoint, SEARCHER_METRIC);
  return `${checkpoint.uuid} at step ${checkpoint.batchNumber ?? '?'} (${SEARCHER_METRIC} ${loss?.toFixed(4) ?? 'none'})`;
}

/**
 * Does what a service would with the trial: picks its best checkpoint by the searcher metric and
 * its latest one with `TrialReference`, downloads and loads the best, and measures it on
 * held-out data it never saw in training or validation.
 */
export async function loadBestCheckpoint(
  options: BestOptions,
  printer: StepPrinter,
): Promise<BestResult> {
  const trial = new TrialReference(options.trialId, {
    master: options.master,
    user: 'determined',
    env: options.env,
    fetch: options.fetch,
  });
  const best = await trial.topCheckpoint();
  const latest = await trial.selectCheckpoint({ latest: true });
  printer.line(`best by ${SEARCHER_METRIC} is ${describe(best)}; latest is ${describe(latest)}`);
  const downloadedTo = join(options.workDir, 'downloads', best.uuid);
  const loaded = await best.load(downloadedTo);
  if (loaded.kind !== 'tfjs' || loaded.format !== 'layers-model') {
    throw new Error(
      `checkpoint ${best.uuid} loaded as ${loaded.kind}, not the TF.js layers model that was saved`,
    );
  }
  const { accuracy } = evaluate(loaded.model, options.test, options.classCount);
  loaded.model.dispose();
  const validationAccuracy = reported(best, 'validation_accuracy');
  printer.detail(
    `downloaded to ${downloadedTo} and loaded (tfjs, layers-model): test accuracy ${accuracy.toFixed(4)} ` +
      `on ${options.test.size} held-out points; reported validation_accuracy ${validationAccuracy?.toFixed(4) ?? 'none'}`,
  );
  return { best, latest, downloadedTo, testAccuracy: accuracy };
}
