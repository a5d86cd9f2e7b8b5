import type { CheckpointData, ExperimentData, TrialData } from '@determined-ts/sdk';

import type { CliIo } from './io.js';
import { printFields, printJson, printTable } from './output.js';

/** The checkpoint table of `det experiment list-checkpoints` and `det trial describe`. */
export function printCheckpoints(io: CliIo, checkpoints: CheckpointData[], json: boolean): void {
  if (json) {
    printJson(io, checkpoints);
    return;
  }
  printTable(
    io,
    ['Trial ID', 'Batch #', 'State', 'Searcher Metric', 'UUID', 'Files', 'Size'],
    checkpoints.map((c) => [
      c.training?.trialId,
      c.batchNumber,
      c.state,
      c.training?.searcherMetric,
      c.uuid,
      Object.keys(c.resources).filter((p) => !p.endsWith('/')).length,
      formatBytes(totalBytes(c)),
    ]),
  );
}

export function printCheckpoint(io: CliIo, c: CheckpointData, json: boolean): void {
  if (json) {
    printJson(io, c);
    return;
  }
  printFields(io, [
    ['UUID', c.uuid],
    ['State', c.state],
    ['Experiment ID', c.training?.experimentId],
    ['Trial ID', c.training?.trialId],
    ['Batch #', c.batchNumber],
    ['Report Time', c.reportTime],
    ['Searcher Metric', c.training?.searcherMetric],
    ['Validation Metrics', c.training?.validationMetrics],
    ['Storage', c.storageConfig.type],
    ['Size', formatBytes(totalBytes(c))],
    ['Metadata', c.metadata],
  ]);
  const files = Object.entries(c.resources).filter(([path]) => !path.endsWith('/'));
  printTable(
    io,
    ['File', 'Size'],
    files.map(([path, size]) => [path, formatBytes(size)]),
  );
}

export function printExperiments(io: CliIo, experiments: ExperimentData[], json: boolean): void {
  if (json) {
    printJson(io, experiments);
    return;
  }
  printTable(
    io,
    [
      'ID',
      'Name',
      'State',
      'Trials',
      'Searcher Metric',
      'Best',
      'Checkpoints',
      'Size',
      'Start Time',
    ],
    experiments.map((e) => [
      e.id,
      e.name,
      e.state,
      e.numTrials,
      e.searcherMetric,
      e.bestTrialSearcherMetric,
      e.checkpointCount,
      formatBytes(e.checkpointSize),
      e.startTime,
    ]),
  );
}

export function printTrials(io: CliIo, trials: TrialData[]): void {
  printTable(
    io,
    ['Trial ID', 'State', 'Batches', 'Best Validation', 'Checkpoints', 'Size', 'Hyperparameters'],
    trials.map((t) => [
      t.id,
      t.state,
      t.totalBatchesProcessed,
      t.searcherMetricValue,
      t.checkpointCount,
      formatBytes(t.totalCheckpointSize),
      t.hparams,
    ]),
  );
}

export function totalBytes(c: Pick<CheckpointData, 'resources'>): number {
  return Object.values(c.resources).reduce((sum, size) => sum + size, 0);
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

/** Bytes in the largest binary unit that keeps the number at or above 1. */
export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${UNITS[unit]}`;
}
