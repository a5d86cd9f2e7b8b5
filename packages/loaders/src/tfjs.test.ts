import { cp, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import * as tf from '@tensorflow/tfjs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

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
import { loadTfjs } from './tfjs.js';
import { tfjsDirLoadHandler, tfjsDirSaveHandler } from './tfjs-io.js';
import type { TfjsCheckpoint } from './types.js';

const TFJS = join(SHARED_FIXTURES, 'tfjs');

/** Runs the model on zeros of its input shape (unknown dimensions as 1). */
function runOnZeros(loaded: TfjsCheckpoint): tf.Tensor {
  const input = loaded.model.inputs[0];
  const shape = (input?.shape ?? []).map((d) => (d === null || d < 0 ? 1 : d));
  const zeros = tf.zeros(shape, input?.dtype);
  return loaded.model.predict(zeros) as tf.Tensor;
}

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'det-tfjs-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe.skipIf(!HAS_SHARED_FIXTURES)(
  `TF.js loader on the reference fixtures${NEEDS_SHARED}`,
  () => {
    it('mlp_layers_tfjs (saved by tfjs 4.22) predicts the recorded output within 1e-5', async () => {
      const expected = JSON.parse(
        await readFile(join(TFJS, 'mlp_layers_tfjs.expected.json'), 'utf8'),
      ) as {
        input: number[][];
        output: number[][];
      };
      const loaded = await loadTfjs(loadContext(TFJS), 'mlp_layers_tfjs/model.json');
      expect(loaded).toMatchObject({
        kind: 'tfjs',
        format: 'layers-model',
        file: 'mlp_layers_tfjs/model.json',
      });
      const y = (loaded.model as tf.LayersModel).predict(tf.tensor(expected.input)) as tf.Tensor;
      expect(y.shape).toEqual([2, 3]);
      expectClose(y.dataSync(), flatten(expected.output));
    });

    it('layers_model (converter output: Embedding, GRU) runs on zeros', async () => {
      const loaded = await loadTfjs(loadContext(TFJS), 'layers_model/model.json');
      expect(loaded.format).toBe('layers-model');
      const y = runOnZeros(loaded);
      expect(loaded.model.inputs[0]?.shape).toEqual([null, 10]);
      expect(y.shape).toEqual([1, loaded.model.outputs[0]?.shape?.[1]]);
      expect(Array.from(y.dataSync()).every(Number.isFinite)).toBe(true);
    });

    it.each(['model.json', 'model_new.json'])(
      'graph_model/%s (converter output) runs: [2,2] @ w',
      async (name) => {
        await cp(join(TFJS, 'graph_model', 'weights.bin'), join(dir, 'weights.bin'));
        await cp(join(TFJS, 'graph_model', name), join(dir, 'model.json'));
        const loaded = await loadTfjs(loadContext(dir), 'model.json');
        expect(loaded.format).toBe('graph-model');
        expect(loaded.model.inputs.map((i) => [i.name, i.shape])).toEqual([
          ['Placeholder', [2, 2]],
        ]);
        // ones @ w sums w's columns; w's four float32 values are the whole weights.bin.
        const w = new Float32Array((await readFile(join(dir, 'weights.bin'))).buffer.slice(0));
        const y = runOnZeros(loaded);
        expect(Array.from(y.dataSync())).toEqual([0, 0, 0, 0]);
        const ones = loaded.model.predict(tf.ones([2, 2])) as tf.Tensor;
        const sums = [(w[0] ?? 0) + (w[2] ?? 0), (w[1] ?? 0) + (w[3] ?? 0)];
        expectClose(ones.dataSync(), [...sums, ...sums]);
      },
    );
  },
);

/** A small functional model with a shared seed, so two builds differ only by their weights. */
function makeModel(): tf.LayersModel {
  const input = tf.input({ shape: [4] });
  const hidden = tf.layers.dense({ units: 8, activation: 'relu', name: 'hidden' }).apply(input);
  const output = tf.layers.dense({ units: 3, name: 'out' }).apply(hidden) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: output });
}

describe('TF.js directory IO handlers', () => {
  it('save then load gives the same predictions; the files are model.json + weights.bin', async () => {
    const model = makeModel();
    const x = tf.tensor([
      [1, 2, 3, 4],
      [-1, 0, 0.5, 2],
    ]);
    const before = (model.predict(x) as tf.Tensor).dataSync();
    const result = await model.save(tfjsDirSaveHandler(join(dir, 'saved')));
    expect(result.modelArtifactsInfo.weightDataBytes).toBe((4 * 8 + 8 + 8 * 3 + 3) * 4);
    expect((await readdir(join(dir, 'saved'))).sort()).toEqual(['model.json', 'weights.bin']);

    const viaHandler = await tf.loadLayersModel(tfjsDirLoadHandler(join(dir, 'saved')));
    expect(Array.from((viaHandler.predict(x) as tf.Tensor).dataSync())).toEqual(Array.from(before));
    const viaLoader = await loadTfjs(loadContext(dir), 'saved/model.json');
    expect(viaLoader.format).toBe('layers-model');
    expect(Array.from((viaLoader.model.predict(x) as tf.Tensor).dataSync())).toEqual(
      Array.from(before),
    );
  });

  it('reads shards split over several files and groups, in manifest order', async () => {
    const model = makeModel();
    await model.save(tfjsDirSaveHandler(dir));
    const json = JSON.parse(await readFile(join(dir, 'model.json'), 'utf8')) as {
      weightsManifest: { paths: string[]; weights: { name: string }[] }[];
    };
    const bytes = await readFile(join(dir, 'weights.bin'));
    // hidden/kernel (128 bytes) | hidden/bias (32) in group 1 as two shards; out/* in group 2.
    await writeFile(join(dir, 'a.bin'), bytes.subarray(0, 100));
    await writeFile(join(dir, 'b.bin'), bytes.subarray(100, 160));
    await writeFile(join(dir, 'sub-c.bin'), bytes.subarray(160));
    const [spec] = json.weightsManifest;
    json.weightsManifest = [
      { paths: ['a.bin', 'b.bin'], weights: spec?.weights.slice(0, 2) ?? [] },
      { paths: ['sub-c.bin'], weights: spec?.weights.slice(2) ?? [] },
    ];
    await writeFile(join(dir, 'model.json'), JSON.stringify(json));
    await rm(join(dir, 'weights.bin'));
    const loaded = await tf.loadLayersModel(tfjsDirLoadHandler(dir));
    const x = tf.ones([1, 4]);
    expect(Array.from((loaded.predict(x) as tf.Tensor).dataSync())).toEqual(
      Array.from((model.predict(x) as tf.Tensor).dataSync()),
    );
  });

  it.each([
    ['../outside.bin', /weightsManifest path "\.\.\/outside\.bin" leaves the model directory/],
    ['/etc/passwd', /weightsManifest path "\/etc\/passwd" is not relative/],
    ['missing.bin', /missing\.bin: cannot open/],
  ])('refuses or reports a bad shard path %s', async (path, message) => {
    await writeFile(
      join(dir, 'model.json'),
      JSON.stringify({
        format: 'layers-model',
        modelTopology: { class_name: 'Sequential', config: { layers: [] } },
        weightsManifest: [{ paths: [path], weights: [] }],
      }),
    );
    const error = await loadTfjs(loadContext(dir), 'model.json').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LoaderError);
    expect((error as Error).message).toMatch(message);
  });

  it.each([
    ['{"format": "layers-model",', /^model\.json: not valid JSON/],
    [
      '{"format": "layers-model"}',
      /^model\.json: not a TF\.js model\.json \(no modelTopology object\)/,
    ],
    ['{"modelTopology": {}, "weightsManifest": {}}', /^model\.json: weightsManifest is not a list/],
    [
      '{"modelTopology": {"x": 1}}',
      /^model\.json: format null is neither layers-model nor graph-model/,
    ],
  ])('refuses a malformed model.json: %s', async (text, message) => {
    await writeFile(join(dir, 'model.json'), text);
    await expect(loadTfjs(loadContext(dir), 'model.json')).rejects.toThrow(message);
  });

  it('wraps a model tfjs cannot build in a LoaderError naming the file', async () => {
    await writeFile(
      join(dir, 'model.json'),
      JSON.stringify({
        format: 'layers-model',
        modelTopology: { class_name: 'NoSuchModel', config: {} },
      }),
    );
    await expect(loadTfjs(loadContext(dir), 'model.json')).rejects.toThrow(
      /^model\.json: tfjs could not build the layers-model: .*NoSuchModel/,
    );
  });

  it('without @tensorflow/tfjs: says which package to install', async () => {
    const ctx = loadContext(dir, { importModule: importWithout('@tensorflow/tfjs') });
    const error = await loadTfjs(ctx, 'model.json').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MissingRuntimeError);
    expect((error as Error).message).toBe(
      'Loading the TF.js model model.json needs the optional package @tensorflow/tfjs: ' +
        'install it with `npm install @tensorflow/tfjs`',
    );
  });
});
