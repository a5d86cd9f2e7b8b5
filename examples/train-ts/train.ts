/**
 * Training in TypeScript through the Core API, as a Python script does with Determined's
 * `core` module: one unmanaged trial, training and validation metrics every epoch, and a
 * checkpoint every epoch (a TF.js layers model, uploaded with its metadata). The master picks
 * the best checkpoint by the searcher metric; `TrialReference(id).topCheckpoint()` finds it.
 *
 *   DET_MASTER=http://127.0.0.1:8080 node --import tsx --conditions=source \
 *     examples/train-ts/train.ts --storage ./checkpoints --epochs 5
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

import { init, tfjsDirSaveHandler } from '@determined-ts/sdk';
import type { SessionOptions } from '@determined-ts/sdk';
import * as tf from '@tensorflow/tfjs';

/** The validation split's seed: whoever loads a checkpoint can score it on the same points. */
export const VALIDATION_SEED = 2;
export const VALIDATION_SIZE = 200;

export interface TrainOptions {
  /** Checkpoint storage: a directory the master can read too. */
  storage: string;
  epochs: number;
  session?: Pick<SessionOptions, 'master' | 'env'>;
  log?: (line: string) => void;
}

export interface Epoch {
  steps: number;
  loss: number;
  validationLoss: number;
  checkpoint: string;
}

/** Two noisy interleaved half-moons of points, labelled 0 and 1, from a fixed seed. */
export function dataset(n: number, seed: number): { x: tf.Tensor2D; y: tf.Tensor2D } {
  let state = seed;
  const random = (): number => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return state / 2 ** 32;
  };
  const points: number[][] = [];
  const labels: number[][] = [];
  for (let i = 0; i < n; i += 1) {
    const label = i % 2;
    const angle = random() * Math.PI;
    const [cx, cy] =
      label === 0
        ? [Math.cos(angle), Math.sin(angle)]
        : [1 - Math.cos(angle), 0.5 - Math.sin(angle)];
    points.push([cx + (random() - 0.5) * 0.3, cy + (random() - 0.5) * 0.3]);
    labels.push([label]);
  }
  return { x: tf.tensor2d(points), y: tf.tensor2d(labels) };
}

export async function train(options: TrainOptions): Promise<{ trialId: number; epochs: Epoch[] }> {
  const log = options.log ?? ((line: string) => process.stdout.write(`${line}\n`));
  tf.enableProdMode();
  const core = await init({
    ...options.session,
    config: {
      name: 'train-ts example',
      searcher: { name: 'single', metric: 'validation_loss', smaller_is_better: true },
      hparams: { epochs: options.epochs, learning_rate: 0.05 },
      checkpoint_storage: { type: 'directory', container_path: resolve(options.storage) },
    },
  });
  const staging = await mkdtemp(join(tmpdir(), 'train-ts-'));
  try {
    const train = dataset(400, 1);
    const validation = dataset(VALIDATION_SIZE, VALIDATION_SEED);
    const model = tf.sequential({
      layers: [
        tf.layers.dense({ units: 16, inputShape: [2], activation: 'relu' }),
        tf.layers.dense({ units: 1, activation: 'sigmoid' }),
      ],
    });
    model.compile({ optimizer: tf.train.adam(0.05), loss: 'binaryCrossentropy' });
    const epochs: Epoch[] = [];
    let steps = 0;
    for (let epoch = 1; epoch <= options.epochs; epoch += 1) {
      const history = await model.fit(train.x, train.y, {
        epochs: 1,
        batchSize: 32,
        shuffle: false,
      });
      steps += Math.ceil(400 / 32);
      const loss = Number(history.history.loss?.[0]);
      const validationLoss =
        (model.evaluate(validation.x, validation.y) as tf.Scalar).dataSync()[0] ?? NaN;
      await core.train.reportTrainingMetrics(steps, { loss });
      const dir = join(staging, `epoch-${epoch}`);
      await model.save(tfjsDirSaveHandler(dir));
      const checkpoint = await core.checkpoint.upload(dir, {
        steps_completed: steps,
        framework: 'tfjs',
        format: 'layers-model',
      });
      await core.train.reportValidationMetrics(steps, { validation_loss: validationLoss });
      epochs.push({ steps, loss, validationLoss, checkpoint });
      log(
        `epoch ${epoch}: loss ${loss.toFixed(4)}, validation_loss ${validationLoss.toFixed(4)}, checkpoint ${checkpoint}`,
      );
    }
    return { trialId: core.info.trialId, epochs };
  } finally {
    await core.close();
    await rm(staging, { recursive: true, force: true });
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({
    options: {
      storage: { type: 'string', default: 'checkpoints' },
      epochs: { type: 'string', default: '5' },
    },
  });
  const result = await train({ storage: values.storage, epochs: Number(values.epochs) });
  process.stdout.write(`trial ${result.trialId}: ${result.epochs.length} checkpoints\n`);
}
