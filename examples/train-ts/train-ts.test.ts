// The train-ts example against a real master on loopback: it trains, and the SDK then finds
// the checkpoint with the lowest validation loss as the trial's best and loads the very model
// that epoch saved.
import { join } from 'node:path';

import { TrialReference } from '@determined-ts/sdk';
import type * as tf from '@tensorflow/tfjs';
import { afterEach, beforeEach, expect, it } from 'vitest';

import { loopbackMaster } from '../../packages/sdk/test/core-helpers.js';
import type { TestMaster } from '../../packages/sdk/test/core-helpers.js';
import { VALIDATION_SEED, VALIDATION_SIZE, dataset, train } from './train.js';

let m: TestMaster;
beforeEach(async () => {
  m = await loopbackMaster();
});
afterEach(async () => {
  await m.close();
});

it('trains through the Core API; the best checkpoint is the lowest validation loss, and loads', async () => {
  const lines: string[] = [];
  const result = await train({
    storage: join(m.dir, 'storage'),
    epochs: 4,
    session: { master: m.url, env: m.env },
    log: (line) => lines.push(line),
  });
  expect(result.epochs).toHaveLength(4);
  expect(lines[3]).toMatch(/^epoch 4: loss \d\.\d{4}, validation_loss \d\.\d{4}, checkpoint \S+$/);
  const lowest = result.epochs.reduce((a, b) => (b.validationLoss < a.validationLoss ? b : a));

  const trial = new TrialReference(result.trialId, { master: m.url, env: m.env });
  const best = await trial.topCheckpoint();
  expect(best.uuid).toBe(lowest.checkpoint);
  expect(best.batchNumber).toBe(lowest.steps);
  const loaded = await best.load(join(m.dir, 'best'));
  if (loaded.kind !== 'tfjs' || loaded.format !== 'layers-model') {
    throw new Error(`loaded a ${loaded.kind}`);
  }
  // The loaded model scores the validation loss that epoch reported, on the same points.
  loaded.model.compile({ optimizer: 'sgd', loss: 'binaryCrossentropy' });
  const validation = dataset(VALIDATION_SIZE, VALIDATION_SEED);
  const score = loaded.model.evaluate(validation.x, validation.y) as tf.Scalar;
  expect(score.dataSync()[0]).toBeCloseTo(lowest.validationLoss, 5);
  expect(result.epochs.map((e) => e.steps)).toEqual([13, 26, 39, 52]);
}, 60_000);
