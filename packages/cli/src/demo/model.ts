import * as tf from '@tensorflow/tfjs';

import { permutation } from './dataset.js';
import type { Split } from './dataset.js';

/** The learning rate before the warm restart, decayed along a cosine to `FINAL_RATE`. */
const BASE_RATE = 0.1;
const FINAL_RATE = 0.005;
/** The last epoch restarts at this rate (SGDR-style), which knocks the model off its optimum. */
export const RESTART_RATE = 0.5;

/**
 * The learning rate of `epoch` (1-based) out of `epochs`: a cosine decay over all epochs but the
 * last, then a warm restart. A restart's first epoch makes validation worse before a longer run
 * would make it better again; the tour stops there on purpose, so the best checkpoint is not the
 * latest one and picking by the searcher metric visibly matters.
 */
export function learningRate(epoch: number, epochs: number): number {
  if (epoch >= epochs) {
    return RESTART_RATE;
  }
  const progress = epochs <= 2 ? 0 : (epoch - 1) / (epochs - 2);
  return FINAL_RATE + ((BASE_RATE - FINAL_RATE) * (1 + Math.cos(Math.PI * progress))) / 2;
}

/** Loss and accuracy of a model on one split; real measurements, nothing smoothed. */
export interface Evaluation {
  loss: number;
  accuracy: number;
}

/** A small classifier: 2 inputs, two hidden layers, a softmax per class. Seeded initial weights. */
export function buildModel(featureCount: number, classCount: number, seed: number): tf.Sequential {
  const init = (offset: number): ReturnType<typeof tf.initializers.glorotUniform> =>
    tf.initializers.glorotUniform({ seed: seed + offset });
  return tf.sequential({
    layers: [
      tf.layers.dense({
        inputShape: [featureCount],
        units: 16,
        activation: 'relu',
        kernelInitializer: init(1),
      }),
      tf.layers.dense({ units: 16, activation: 'relu', kernelInitializer: init(2) }),
      tf.layers.dense({ units: classCount, activation: 'softmax', kernelInitializer: init(3) }),
    ],
  });
}

function tensorsOf(split: Split, featureCount: number, classCount: number, order?: Int32Array) {
  const features = tf.tensor2d(split.features, [split.size, featureCount]);
  const labels = tf.oneHot(tf.tensor1d(split.labels, 'int32'), classCount);
  if (order === undefined) {
    return { features, labels };
  }
  const index = tf.tensor1d(order, 'int32');
  const shuffled = { features: tf.gather(features, index), labels: tf.gather(labels, index) };
  tf.dispose([features, labels, index]);
  return shuffled;
}

/**
 * Trains one epoch of minibatch SGD with momentum at `learningRate`, on the training split in an
 * order drawn from `random` (tfjs's own shuffle uses `Math.random`, which cannot be seeded).
 * Returns the training loss and accuracy averaged over the epoch's batches, as Keras reports them.
 */
export async function trainEpoch(
  model: tf.Sequential,
  optimizer: tf.MomentumOptimizer,
  split: Split,
  options: { learningRate: number; batchSize: number; classCount: number; random: () => number },
): Promise<Evaluation> {
  optimizer.setLearningRate(options.learningRate);
  // Compiling again keeps the weights; it only points training at the optimizer.
  model.compile({ optimizer, loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
  const featureCount = split.features.length / split.size;
  const { features, labels } = tensorsOf(
    split,
    featureCount,
    options.classCount,
    permutation(split.size, options.random),
  );
  try {
    const history = await model.fit(features, labels, {
      epochs: 1,
      batchSize: options.batchSize,
      shuffle: false,
      verbose: 0,
    });
    return { loss: lastOf(history.history.loss), accuracy: lastOf(history.history.acc) };
  } finally {
    tf.dispose([features, labels]);
  }
}

function lastOf(values: (number | tf.Tensor)[] | undefined): number {
  const value = values?.at(-1);
  return typeof value === 'number' ? value : Number.NaN;
}

/** Cross-entropy and accuracy of `model`'s predictions on `split`. */
export function evaluate(model: tf.LayersModel, split: Split, classCount: number): Evaluation {
  const featureCount = split.features.length / split.size;
  return tf.tidy(() => {
    const { features, labels } = tensorsOf(split, featureCount, classCount);
    const probabilities = model.predict(features) as tf.Tensor2D;
    const loss = tf.metrics.categoricalCrossentropy(labels, probabilities).mean().dataSync()[0];
    const correct = tf.equal(probabilities.argMax(1), labels.argMax(1)).sum().dataSync()[0];
    return { loss: loss ?? Number.NaN, accuracy: (correct ?? 0) / split.size };
  });
}
