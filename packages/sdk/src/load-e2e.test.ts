import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { loadFromPath, tfjsDirSaveHandler } from '@determined-ts/loaders';
import * as tf from '@tensorflow/tfjs';
import { afterEach, beforeEach, describe, expect, it, onTestFinished } from 'vitest';

import { inProcessMaster } from '../test/core-helpers.js';
import type { TestMaster } from '../test/core-helpers.js';
import { Checkpoint } from './checkpoint.js';
import { init } from './core/init.js';
import { TrialReference } from './trial-reference.js';

/** A small model whose weights depend on `seed`, so each checkpoint predicts differently. */
function makeModel(seed: number): tf.LayersModel {
  const init = (s: number) => tf.initializers.glorotUniform({ seed: s });
  return tf.sequential({
    layers: [
      tf.layers.dense({
        units: 6,
        inputShape: [4],
        activation: 'relu',
        kernelInitializer: init(seed),
      }),
      tf.layers.dense({ units: 2, kernelInitializer: init(seed + 1) }),
    ],
  });
}

const predict = (model: tf.LayersModel, x: tf.Tensor): number[] =>
  Array.from((model.predict(x) as tf.Tensor).dataSync());

describe('Checkpoint.loadFromPath', () => {
  it("is the loaders package's loadFromPath: the same model, the same predictions", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'det-load-'));
    onTestFinished(() => rm(dir, { recursive: true, force: true }));
    const model = makeModel(3);
    await model.save(tfjsDirSaveHandler(dir));
    const x = tf.tensor([[1, 2, 3, 4]]);
    const viaSdk = await Checkpoint.loadFromPath(dir);
    const viaLoaders = await loadFromPath(dir);
    for (const loaded of [viaSdk, viaLoaders]) {
      expect(loaded.kind === 'tfjs' && loaded.format).toBe('layers-model');
      if (loaded.kind === 'tfjs' && loaded.format === 'layers-model') {
        expect(predict(loaded.model, x)).toEqual(predict(model, x));
      }
    }
  });
});

describe('Core API upload → TrialReference → load → predict', () => {
  let m: TestMaster;
  beforeEach(async () => {
    m = await inProcessMaster();
  });
  afterEach(async () => {
    await m.close();
  });

  it('loads the best checkpoint of a trial as a runnable TF.js model', async () => {
    const core = await init({
      master: m.url,
      fetch: m.fetch,
      env: m.env,
      config: { searcher: { metric: 'val_loss' }, checkpoint_storage: join(m.dir, 'storage') },
    });
    const x = tf.tensor([
      [1, 2, 3, 4],
      [-1, 0, 0.5, 2],
    ]);
    const losses = [0.8, 0.2, 0.5];
    const predictions: number[][] = [];
    for (const [i, loss] of losses.entries()) {
      const steps = (i + 1) * 100;
      const model = makeModel(i * 10);
      predictions.push(predict(model, x));
      const src = join(m.dir, `out-${steps}`);
      await model.save(tfjsDirSaveHandler(src));
      await core.checkpoint.upload(src, {
        steps_completed: steps,
        framework: 'tfjs',
        format: 'layers-model',
      });
      await core.train.reportValidationMetrics(steps, { val_loss: loss });
    }
    await core.close();
    // The models differ, so equal predictions below pick out one checkpoint.
    expect(predictions[1]).not.toEqual(predictions[0]);
    expect(predictions[1]).not.toEqual(predictions[2]);

    const trial = new TrialReference(core.info.trialId, {
      master: m.url,
      fetch: m.fetch,
      env: m.env,
    });
    const best = await trial.topCheckpoint();
    expect(best.batchNumber).toBe(200);
    const target = join(m.dir, 'downloaded');
    const loaded = await best.load(target);
    expect(loaded).toMatchObject({
      kind: 'tfjs',
      format: 'layers-model',
      path: target,
      file: 'model.json',
      metadata: { steps_completed: 200, framework: 'tfjs', format: 'layers-model' },
    });
    if (loaded.kind !== 'tfjs' || loaded.format !== 'layers-model') {
      throw new Error(`loaded a ${loaded.kind}`);
    }
    expect(predict(loaded.model, x)).toEqual(predictions[1]);

    // Through the master's archive too, into another directory.
    const viaMaster = await best.load(join(m.dir, 'via-master'), { mode: 'master' });
    expect(viaMaster.kind === 'tfjs' && predict(viaMaster.model as tf.LayersModel, x)).toEqual(
      predictions[1],
    );
  });
});
