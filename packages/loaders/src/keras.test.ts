import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import * as tf from '@tensorflow/tfjs';
import type { Group } from 'h5wasm';
import h5wasm from 'h5wasm/node';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import {
  HAS_SHARED_FIXTURES,
  NEEDS_SHARED,
  SHARED_FIXTURES,
  expectClose,
  flatten,
  importWithout,
  loadContext,
} from '../test/loaders.js';
import { LoaderError, MissingRuntimeError } from './errors.js';
import { loadKerasH5 } from './keras.js';
import type { TensorMap } from './types.js';

const KERAS = join(SHARED_FIXTURES, 'keras');

/** y = relu(x·W1 + b1)·W2 + b2, computed from the weights read, as the generator did in numpy. */
function mlpForward(weights: TensorMap, x: number[][], names: string[]): number[] {
  const [w1, b1, w2, b2] = names.map((name) => {
    const tensor = weights.get(name);
    if (tensor === undefined) {
      throw new Error(`no weight ${name}`);
    }
    return { values: tensor.toArray() as Float32Array, shape: tensor.shape };
  });
  const dense = (rows: number[][], w: typeof w1, b: typeof w1, relu: boolean): number[][] =>
    rows.map((row) =>
      Array.from({ length: w?.shape[1] ?? 0 }, (_, j) => {
        const sum = row.reduce(
          (s, v, i) => s + v * (w?.values[i * (w.shape[1] ?? 0) + j] ?? 0),
          b?.values[j] ?? 0,
        );
        return relu ? Math.max(0, sum) : sum;
      }),
    );
  return dense(dense(x, w1, b1, true), w2, b2, false).flat();
}

describe.skipIf(!HAS_SHARED_FIXTURES)(
  `Keras .h5 loader on the reference fixture${NEEDS_SHARED}`,
  () => {
    it('mlp_keras2_layout.h5: config, weights, and a tfjs model matching the recorded output', async () => {
      const expected = JSON.parse(
        await readFile(join(KERAS, 'mlp_keras2_layout.h5.expected.json'), 'utf8'),
      ) as { input: number[][]; output: number[][] };
      const loaded = await loadKerasH5(loadContext(KERAS), 'mlp_keras2_layout.h5');
      expect(loaded).toMatchObject({
        kind: 'keras-h5',
        file: 'mlp_keras2_layout.h5',
        kerasVersion: '2.15.0',
        backend: 'tensorflow',
        config: { class_name: 'Sequential', config: { name: 'sequential' } },
      });
      expect(loaded.notRunnableReason).toBeUndefined();
      expect([...loaded.weights].map(([name, t]) => [name, t.dtype, t.shape])).toEqual([
        ['dense/kernel:0', 'float32', [4, 8]],
        ['dense/bias:0', 'float32', [8]],
        ['dense_1/kernel:0', 'float32', [8, 3]],
        ['dense_1/bias:0', 'float32', [3]],
      ]);
      const names = [...loaded.weights.keys()];
      expectClose(mlpForward(loaded.weights, expected.input, names), flatten(expected.output));
      const y = loaded.model?.predict(tf.tensor(expected.input)) as tf.Tensor;
      expect(y.shape).toEqual([2, 3]);
      expectClose(y.dataSync(), flatten(expected.output));
    });

    it('without tfjs: config and weights, no model, and the reason', async () => {
      const ctx = loadContext(KERAS, { importModule: importWithout('@tensorflow/tfjs') });
      const loaded = await loadKerasH5(ctx, 'mlp_keras2_layout.h5');
      expect(loaded.model).toBeUndefined();
      expect(loaded.weights.size).toBe(4);
      expect(loaded.notRunnableReason).toBe(
        'Running the Keras model mlp_keras2_layout.h5 needs the optional package @tensorflow/tfjs: ' +
          'install it with `npm install @tensorflow/tfjs`',
      );
    });
  },
);

interface LayerSpec {
  name: string;
  weights: { name: string; values: number[]; shape: number[] }[];
}

/** A Keras-2-layout .h5 written with h5wasm, for the cases no fixture covers. */
function writeKerasFile(
  path: string,
  {
    config,
    layers,
    chunkLayerNames = false,
  }: { config?: object; layers: LayerSpec[]; chunkLayerNames?: boolean },
): void {
  const file = new h5wasm.File(path, 'w');
  try {
    if (config !== undefined) {
      file.create_attribute('model_config', JSON.stringify(config));
      file.create_attribute('keras_version', '2.15.0');
    }
    const group = config === undefined ? file : file.create_group('model_weights');
    const names = layers.map((l) => l.name);
    if (chunkLayerNames) {
      names.forEach((name, i) => group.create_attribute(`layer_names${i}`, [name]));
    } else {
      group.create_attribute('layer_names', names);
    }
    for (const layer of layers) {
      const layerGroup = group.create_group(layer.name);
      layerGroup.create_attribute(
        'weight_names',
        // What h5py stores for Keras's empty list: numpy's empty float64 array.
        layer.weights.length === 0 ? new Float64Array(0) : layer.weights.map((w) => w.name),
      );
      for (const weight of layer.weights) {
        const [sub, leaf] = weight.name.split('/') as [string, string];
        const subGroup = layerGroup.get(sub) ?? layerGroup.create_group(sub);
        (subGroup as typeof layerGroup).create_dataset({
          name: leaf,
          data: Float32Array.from(weight.values),
          shape: weight.shape,
        });
      }
    }
  } finally {
    file.close();
  }
}

const denseConfig = (name: string, units: number, inputDim?: number): object => ({
  class_name: 'Dense',
  config: {
    name,
    units,
    activation: 'linear',
    use_bias: true,
    ...(inputDim === undefined ? {} : { batch_input_shape: [null, inputDim] }),
  },
});

const oneDense = (layerClass = 'Dense'): object => ({
  class_name: 'Sequential',
  config: { name: 'seq', layers: [{ ...denseConfig('d', 2, 2), class_name: layerClass }] },
});

const DENSE_WEIGHTS: LayerSpec = {
  name: 'd',
  weights: [
    { name: 'd/kernel:0', values: [1, 2, 3, 4], shape: [2, 2] },
    { name: 'd/bias:0', values: [10, 20], shape: [2] },
  ],
};

describe('Keras .h5 loader on files written here', () => {
  let dir: string;
  beforeAll(async () => {
    await h5wasm.ready;
  });
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'det-keras-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('sets each layer its weights: [1, 1] · [[1, 2], [3, 4]] + [10, 20] = [14, 26]', async () => {
    writeKerasFile(join(dir, 'm.h5'), { config: oneDense(), layers: [DENSE_WEIGHTS] });
    const loaded = await loadKerasH5(loadContext(dir), 'm.h5');
    expect(Array.from((loaded.model?.predict(tf.ones([1, 2])) as tf.Tensor).dataSync())).toEqual([
      14, 26,
    ]);
  });

  it('reads layer_names split into layer_names0, … (many-layer models) and layers without weights', async () => {
    const dropout = { class_name: 'Dropout', config: { name: 'drop', rate: 0.5 } };
    const config = {
      class_name: 'Sequential',
      config: { name: 'seq', layers: [denseConfig('d', 2, 2), dropout, denseConfig('e', 1)] },
    };
    const second: LayerSpec = {
      name: 'e',
      weights: [
        { name: 'e/kernel:0', values: [1, -1], shape: [2, 1] },
        { name: 'e/bias:0', values: [0.5], shape: [1] },
      ],
    };
    const layers = [DENSE_WEIGHTS, { name: 'drop', weights: [] }, second];
    writeKerasFile(join(dir, 'm.h5'), { config, layers, chunkLayerNames: true });
    const loaded = await loadKerasH5(loadContext(dir), 'm.h5');
    expect([...loaded.weights.keys()]).toEqual([
      'd/kernel:0',
      'd/bias:0',
      'e/kernel:0',
      'e/bias:0',
    ]);
    // [14, 26] · [1, -1] + 0.5
    expect(Array.from((loaded.model?.predict(tf.ones([1, 2])) as tf.Tensor).dataSync())).toEqual([
      -11.5,
    ]);
  });

  it('a layer tfjs does not know: config and weights, model undefined with the reason', async () => {
    writeKerasFile(join(dir, 'm.h5'), {
      config: oneDense('MyCustomDense'),
      layers: [DENSE_WEIGHTS],
    });
    const loaded = await loadKerasH5(loadContext(dir), 'm.h5');
    expect(loaded.model).toBeUndefined();
    expect(loaded.notRunnableReason).toMatch(/^tfjs cannot build it: .*MyCustomDense/);
    expect(loaded.weights.get('d/bias:0')?.toArray()).toEqual(Float32Array.from([10, 20]));
  });

  it('weights that do not fit the config: model undefined with the reason', async () => {
    const wrong: LayerSpec = {
      name: 'd',
      weights: [
        { name: 'd/kernel:0', values: [1, 2, 3, 4, 5, 6], shape: [3, 2] },
        { name: 'd/bias:0', values: [10, 20], shape: [2] },
      ],
    };
    writeKerasFile(join(dir, 'm.h5'), { config: oneDense(), layers: [wrong] });
    const loaded = await loadKerasH5(loadContext(dir), 'm.h5');
    expect(loaded.model).toBeUndefined();
    expect(loaded.notRunnableReason).toMatch(/shape \[2, 2\] in tfjs, \[3, 2\] in the file/);
  });

  it('a weights-only file (save_weights): weights, no config, no model', async () => {
    writeKerasFile(join(dir, 'w.h5'), { layers: [DENSE_WEIGHTS] });
    const loaded = await loadKerasH5(loadContext(dir), 'w.h5');
    expect(loaded.config).toBeUndefined();
    expect(loaded.model).toBeUndefined();
    expect(loaded.notRunnableReason).toBe('a weights-only file (no model_config)');
    expect(loaded.weights.get('d/kernel:0')?.shape).toEqual([2, 2]);
  });

  it('a weight listed in weight_names but absent: LoaderError naming it', async () => {
    writeKerasFile(join(dir, 'm.h5'), { config: oneDense(), layers: [DENSE_WEIGHTS] });
    const file = new h5wasm.File(join(dir, 'm.h5'), 'a');
    const layer = file.get('model_weights/d') as Group;
    layer.delete_attribute('weight_names');
    layer.create_attribute('weight_names', ['d/kernel:0', 'd/gone:0']);
    file.close();
    await expect(loadKerasH5(loadContext(dir), 'm.h5')).rejects.toThrow(
      'm.h5:/model_weights/d/d/gone:0: listed in weight_names but not a dataset',
    );
  });

  it('refuses a file that is not HDF5, naming it', async () => {
    await writeFile(join(dir, 'fake.h5'), 'not hdf5 at all');
    const error = await loadKerasH5(loadContext(dir), 'fake.h5').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LoaderError);
    expect((error as Error).message).toBe('fake.h5: not an HDF5 file (no HDF5 signature)');
  });

  it('without h5wasm: says which package to install', async () => {
    const ctx = loadContext(dir, { importModule: importWithout('h5wasm') });
    const error = await loadKerasH5(ctx, 'm.h5').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MissingRuntimeError);
    expect((error as Error).message).toBe(
      'Reading the Keras file m.h5 needs the optional package h5wasm: install it with `npm install h5wasm`',
    );
  });
});
