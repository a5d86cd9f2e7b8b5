import { existsSync } from 'node:fs';
import { cp, mkdtemp, readdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { savedModelBytes, TF, writeTensorBundle } from '../../test/savedmodel-writer.js';
import { LoaderError } from '../errors.js';
import type { FileStorage } from '../file-storage.js';
import type { Tensor } from '../tensor.js';
import { readSavedModel } from './index.js';

const FIXTURES = fileURLToPath(
  new URL('../../../../../shared/fixtures/savedmodel/', import.meta.url),
);

/**
 * What each fixture holds, checked independently of this reader: the version strings are in the
 * raw bytes (see `strings saved_model.pb`), and the values are the models' documented
 * semantics (half_plus_two computes 0.5 * x + 2, times_three_float multiplies by a variable 3,
 * …). TensorFlow's own CRC-32C of each variable, checked on every read, vouches for the bytes.
 */
const FIXTURE_FACTS: Record<
  string,
  { version: string; variables: Record<string, [string, number[], number | bigint]> }
> = {
  int64_multiply: {
    version: '2.3.1',
    variables: {
      'v1/.ATTRIBUTES/VARIABLE_VALUE': ['int64', [], 3n],
      'v2/.ATTRIBUTES/VARIABLE_VALUE': ['int64', [], 2n],
    },
  },
  uint8_multiply: {
    version: '2.3.1',
    variables: {
      'v1/.ATTRIBUTES/VARIABLE_VALUE': ['int32', [], 3],
      'v2/.ATTRIBUTES/VARIABLE_VALUE': ['int32', [], 2],
    },
  },
  model_multi_output: {
    version: '2.0.0',
    variables: {
      'two/.ATTRIBUTES/VARIABLE_VALUE': ['int32', [], 2],
      'v/.ATTRIBUTES/VARIABLE_VALUE': ['float32', [], 3],
    },
  },
  model_single_input_multi_output: {
    version: '2.0.0',
    variables: {
      'two/.ATTRIBUTES/VARIABLE_VALUE': ['int32', [], 2],
      'v/.ATTRIBUTES/VARIABLE_VALUE': ['float32', [], 3],
    },
  },
  module_with_multiple_signatures: {
    version: '2.0.0-beta1',
    variables: {
      'two/.ATTRIBUTES/VARIABLE_VALUE': ['float32', [], 2],
      'v/.ATTRIBUTES/VARIABLE_VALUE': ['float32', [], 3],
    },
  },
  times_three_float: {
    version: '2.0.0-beta1',
    variables: { 'v/.ATTRIBUTES/VARIABLE_VALUE': ['float32', [], 3] },
  },
  times_two_int: {
    version: '2.0.0-beta1',
    variables: { 'v/.ATTRIBUTES/VARIABLE_VALUE': ['int32', [], 2] },
  },
  saved_model_counter: {
    version: '1.5.0-rc1',
    variables: { counter: ['float32', [], 0] },
  },
  saved_model_half_plus_three: {
    version: '1.0.0-rc2',
    variables: { a: ['float32', [], 0.5], b: ['float32', [], 3], c: ['float32', [], 3] },
  },
  saved_model_half_plus_two_cpu: {
    version: '1.14.0',
    variables: {
      a: ['float32', [], 0.5],
      a2: ['float32', [], 0.5],
      b: ['float32', [], 2],
      c: ['float32', [], 3],
      c2: ['float32', [], 3],
    },
  },
  synthetic_two_metagraphs: {
    version: '1.14.0',
    variables: {
      a: ['float32', [], 0.5],
      a2: ['float32', [], 0.5],
      b: ['float32', [], 2],
      c: ['float32', [], 3],
      c2: ['float32', [], 3],
    },
  },
  saved_model_half_plus_two_gpu: {
    version: '1.9.0',
    variables: { a: ['float32', [], 0.5], b: ['float32', [], 2], c: ['float32', [], 3] },
  },
  saved_model_half_plus_two_tf2_cpu: {
    version: '2.14.0',
    variables: {
      'a/.ATTRIBUTES/VARIABLE_VALUE': ['float32', [], 0.5],
      'b/.ATTRIBUTES/VARIABLE_VALUE': ['float32', [], 2],
      'c/.ATTRIBUTES/VARIABLE_VALUE': ['float32', [], 3],
    },
  },
  saved_model_half_plus_two_mkl: {
    version: '1.12.0-rc0',
    variables: { a: ['float32', [], 0.5], b: ['float32', [], 2], c: ['float32', [], 3] },
  },
};

function scalar(tensor: Tensor | undefined): number | bigint | undefined {
  return tensor?.toArray()[0];
}

describe('readSavedModel (generated SavedModels)', () => {
  let dir: string;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'savedmodel-gen-'));
  });

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const predict = {
    method: 'tensorflow/serving/predict',
    inputs: { images: { name: 'images:0', dtype: TF.uint8, shape: [-1, 28, 28] } },
    outputs: {
      logits: { name: 'dense/BiasAdd:0', dtype: TF.float, shape: [-1, 10] },
      anything: { name: 'id:0', dtype: TF.int64, shape: null },
    },
  };

  it('reads tags, version and signatures, skipping fields it does not know', async () => {
    await writeFile(
      join(dir, 'saved_model.pb'),
      savedModelBytes([
        { tags: ['train'], version: '2.9.0', signatures: {} },
        { tags: ['serve', 'tpu'], version: '2.9.1', signatures: { serving_default: predict } },
      ]),
    );
    const model = await readSavedModel(dir, { tags: ['tpu', 'serve'] });
    expect(model.tags).toEqual(['serve', 'tpu']);
    expect(model.availableTagSets).toEqual([['train'], ['serve', 'tpu']]);
    expect(model.tensorflowVersion).toBe('2.9.1');
    expect(model.tensorflowGitVersion).toBeUndefined();
    expect(model.signatures).toEqual({
      serving_default: {
        methodName: 'tensorflow/serving/predict',
        inputs: { images: { name: 'images:0', dtype: 'uint8', shape: [-1, 28, 28] } },
        outputs: {
          logits: { name: 'dense/BiasAdd:0', dtype: 'float32', shape: [-1, 10] },
          anything: { name: 'id:0', dtype: 'int64', shape: null },
        },
      },
    });
    // No variables/ folder: a graph with its constants folded in has none.
    expect(model.variables.size).toBe(0);
    await expect(readSavedModel(dir)).rejects.toThrow(
      /no MetaGraph has the tag set \[serve\]; available tag sets: \[train\], \[serve, tpu\]/,
    );
  });

  it('reads the variables next to the graph', async () => {
    await writeFile(
      join(dir, 'saved_model.pb'),
      savedModelBytes([{ tags: ['serve'], signatures: { serving_default: predict } }]),
    );
    await writeTensorBundle(join(dir, 'variables', 'variables'), [
      {
        name: 'dense/bias',
        dtype: TF.float,
        shape: [2],
        bytes: new Uint8Array(Float32Array.of(0.5, 2).buffer),
      },
      { name: 'table', dtype: TF.resource, shape: [] },
    ]);
    const model = await readSavedModel(dir);
    expect(model.tensorflowVersion).toBeUndefined();
    expect([...(model.variables.get('dense/bias')?.toArray() ?? [])]).toEqual([0.5, 2]);
    expect(model.opaqueVariables.get('table')?.dtype).toBe('resource');
  });

  it('refuses bytes that are not a SavedModel', async () => {
    await writeFile(join(dir, 'saved_model.pb'), Uint8Array.of(0x12, 0x40, 0x01));
    await expect(readSavedModel(dir)).rejects.toThrow(
      /saved_model\.pb: not a valid SavedModel message/,
    );
  });
});

describe.skipIf(!existsSync(FIXTURES))(
  'readSavedModel (reference fixtures in ../shared/fixtures/savedmodel; skipped when that folder is absent)',
  () => {
    it('has facts for every fixture directory', async () => {
      expect((await readdir(FIXTURES)).sort()).toEqual(Object.keys(FIXTURE_FACTS).sort());
    });

    it.each(Object.entries(FIXTURE_FACTS))('reads %s', async (name, facts) => {
      const dir = join(FIXTURES, name);
      const model = await readSavedModel(dir);
      expect(model.kind).toBe('savedmodel');
      expect(model.runnable).toBe(false);
      expect(model.tags).toEqual(['serve']);
      expect(model.tensorflowVersion).toBe(facts.version);
      expect((await readFile(join(dir, 'saved_model.pb'))).includes(facts.version)).toBe(true);
      for (const [key, [dtype, shape, value]] of Object.entries(facts.variables)) {
        const tensor = model.variables.get(key);
        expect(tensor?.dtype, key).toBe(dtype);
        expect(tensor?.shape, key).toEqual(shape);
        expect(scalar(tensor), key).toBe(value);
      }
      // TF 2 object-based checkpoints also hold their object graph, a string.
      const isTf2 = Object.keys(facts.variables).some((key) => key.endsWith('VARIABLE_VALUE'));
      const extra = isTf2 ? ['_CHECKPOINTABLE_OBJECT_GRAPH'] : [];
      expect([...model.opaqueVariables.keys()]).toEqual(extra);
      if (name !== 'saved_model_half_plus_two_mkl') {
        expect([...model.variables.keys()].sort()).toEqual(Object.keys(facts.variables).sort());
      }
    });

    it('reads the conv layers of the MKL variant with their shapes', async () => {
      const model = await readSavedModel(join(FIXTURES, 'saved_model_half_plus_two_mkl'));
      for (const layer of ['conv2d', 'conv2d_1', 'conv2d_2']) {
        expect(model.variables.get(`${layer}/kernel`)?.shape).toEqual([1, 1, 1, 1]);
        expect(model.variables.get(`${layer}/bias`)?.shape).toEqual([1]);
      }
      expect(model.variables.size).toBe(9);
    });

    it('reads the half_plus_two signatures: predict and regress x -> y', async () => {
      const model = await readSavedModel(join(FIXTURES, 'saved_model_half_plus_two_cpu'));
      expect(Object.keys(model.signatures).sort()).toEqual([
        'classify_x_to_y',
        'regress_x2_to_y3',
        'regress_x_to_y',
        'regress_x_to_y2',
        'serving_default',
      ]);
      const column = { dtype: 'float32', shape: [-1, 1] };
      expect(model.signatures['serving_default']).toEqual({
        methodName: 'tensorflow/serving/predict',
        inputs: { x: { name: 'x:0', ...column } },
        outputs: { y: { name: 'y:0', ...column } },
      });
      expect(model.signatures['regress_x_to_y']).toEqual({
        methodName: 'tensorflow/serving/regress',
        inputs: { inputs: { name: 'tf_example:0', dtype: 'string', shape: null } },
        outputs: { outputs: { name: 'y:0', ...column } },
      });
      expect(model.signatures['classify_x_to_y']?.methodName).toBe('tensorflow/serving/classify');
      expect(model.signatures['regress_x2_to_y3']?.inputs).toEqual({
        inputs: { name: 'x2:0', ...column },
      });
    });

    it('reads TF 2 signatures, including several per module', async () => {
      const tf2 = await readSavedModel(join(FIXTURES, 'saved_model_half_plus_two_tf2_cpu'));
      expect(tf2.signatures['serving_default']).toEqual({
        methodName: 'tensorflow/serving/predict',
        inputs: { x: { name: 'serving_default_x:0', dtype: 'float32', shape: [1] } },
        outputs: { y: { name: 'StatefulPartitionedCall_5:0', dtype: 'float32', shape: [1] } },
      });
      const multi = await readSavedModel(join(FIXTURES, 'module_with_multiple_signatures'));
      expect(Object.keys(multi.signatures).sort()).toEqual([
        '__saved_model_init_op',
        'serving_default',
        'timestwo',
      ]);
      expect(multi.signatures['timestwo']?.inputs['x']).toEqual({
        name: 'timestwo_x:0',
        dtype: 'float32',
        shape: [],
      });
      const uint8 = await readSavedModel(join(FIXTURES, 'uint8_multiply'));
      expect(uint8.signatures['serving_default']?.inputs['x']?.dtype).toBe('uint8');
      expect(uint8.signatures['serving_default']?.outputs['output_0']?.dtype).toBe('int32');
    });

    it('reports an input of unknown rank as a null shape', async () => {
      const model = await readSavedModel(join(FIXTURES, 'saved_model_counter'));
      expect(model.signatures['incr_counter_by']?.inputs['delta']).toEqual({
        name: 'delta:0',
        dtype: 'float32',
        shape: null,
      });
    });

    describe('tag sets', () => {
      const dir = join(FIXTURES, 'synthetic_two_metagraphs');

      it('picks the MetaGraph whose tag set equals the request, in any order', async () => {
        const serve = await readSavedModel(dir, { tags: ['serve'] });
        expect(serve.tags).toEqual(['serve']);
        expect(serve.availableTagSets).toEqual([['serve'], ['serve', 'gpu']]);
        const gpu = await readSavedModel(dir, { tags: ['gpu', 'serve'] });
        expect(gpu.tags).toEqual(['serve', 'gpu']);
        expect(Object.keys(gpu.signatures)).toContain('serving_default');
      });

      it('refuses a subset and lists the tag sets there are', async () => {
        await expect(readSavedModel(dir, { tags: ['gpu'] })).rejects.toThrow(
          /no MetaGraph has the tag set \[gpu\]; available tag sets: \[serve\], \[serve, gpu\]/,
        );
        await expect(readSavedModel(dir, { tags: ['serve', 'gpu', 'tpu'] })).rejects.toThrow(
          LoaderError,
        );
      });
    });

    describe('tensor modes', () => {
      const dir = join(FIXTURES, 'saved_model_half_plus_two_cpu');

      it('reads no variable bytes in index mode, and loads them on demand', async () => {
        const model = await readSavedModel(dir, { tensors: 'index' });
        const a = model.variables.get('a');
        expect(a?.isLoaded).toBe(false);
        expect(a?.shape).toEqual([]);
        await a?.load();
        expect(scalar(a)).toBe(0.5);
        expect(model.variables.get('b')?.isLoaded).toBe(false);
      });
    });

    describe('damaged copies', () => {
      let tmp: string;

      beforeEach(async () => {
        tmp = await mkdtemp(join(tmpdir(), 'savedmodel-'));
        await cp(join(FIXTURES, 'saved_model_half_plus_two_cpu'), tmp, { recursive: true });
      });

      afterEach(async () => {
        await rm(tmp, { recursive: true, force: true });
      });

      /** Flips one bit of variable `name`'s first byte in the data file. */
      async function corrupt(name: string): Promise<void> {
        const { variables } = await readSavedModel(tmp, { tensors: 'index' });
        const storage = variables.get(name)?.storage as FileStorage;
        const { path } = storage.file;
        const position = storage.source.spanStart;
        const bytes = await readFile(path);
        bytes[position] = (bytes[position] ?? 0) ^ 0x01;
        await writeFile(path, bytes);
      }

      it('names the variable whose bytes fail their crc32c', async () => {
        await corrupt('b');
        await expect(readSavedModel(tmp)).rejects.toThrow(
          /variables\.data-00000-of-00001: variable b: crc32c mismatch/,
        );
      });

      it('checks the crc32c on a lazy load too', async () => {
        await corrupt('c');
        const model = await readSavedModel(tmp, { tensors: 'lazy' });
        await expect(model.variables.get('a')?.load()).resolves.toBeDefined();
        await expect(model.variables.get('c')?.load()).rejects.toThrow(/variable c: crc32c/);
        expect(model.variables.get('c')?.isLoaded).toBe(false);
      });

      it('refuses a truncated variables.index', async () => {
        const index = join(tmp, 'variables', 'variables.index');
        await truncate(index, 100);
        await expect(readSavedModel(tmp)).rejects.toThrow(
          /variables\.index: no table magic number/,
        );
      });

      it('refuses a variables.index whose block fails its checksum', async () => {
        const index = join(tmp, 'variables', 'variables.index');
        const bytes = await readFile(index);
        bytes[10] = (bytes[10] ?? 0) ^ 0x40;
        await writeFile(index, bytes);
        await expect(readSavedModel(tmp)).rejects.toThrow(/block at 0: checksum mismatch/);
      });

      it('refuses a missing data shard', async () => {
        await rm(join(tmp, 'variables', 'variables.data-00000-of-00001'));
        await expect(readSavedModel(tmp)).rejects.toThrow(
          /variables\.data-00000-of-00001: cannot read data shard/,
        );
      });

      it('refuses a truncated saved_model.pb', async () => {
        const pb = join(tmp, 'saved_model.pb');
        await truncate(pb, 1000);
        const error = await readSavedModel(tmp).catch((err: unknown) => err);
        expect(error).toBeInstanceOf(LoaderError);
        expect((error as Error).message).toMatch(/saved_model\.pb: not a valid SavedModel message/);
      });

      it('refuses a directory without saved_model.pb', async () => {
        await rm(join(tmp, 'saved_model.pb'));
        await expect(readSavedModel(tmp)).rejects.toThrow(/saved_model\.pb: cannot read/);
      });
    });
  },
);
