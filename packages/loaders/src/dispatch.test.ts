import { existsSync } from 'node:fs';
import { copyFile, cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import * as tf from '@tensorflow/tfjs';
import h5wasm from 'h5wasm/node';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import {
  HAS_SHARED_FIXTURES,
  NEEDS_SHARED,
  SHARED_FIXTURES,
  importWithout,
} from '../test/loaders.js';
import { loadCheckpointPath, loadFromPath } from './dispatch.js';
import {
  AmbiguousFormatError,
  LoaderError,
  MissingRuntimeError,
  UnsupportedFormatError,
} from './errors.js';
import { tfjsDirSaveHandler } from './tfjs-io.js';
import type { LoadedCheckpoint } from './types.js';

let dir: string;
beforeAll(async () => {
  await h5wasm.ready;
});
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'det-dispatch-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A TF.js layers model (y = 2x + 1) saved under `at` with our save handler. */
async function saveTfjs(at: string): Promise<void> {
  const model = tf.sequential({
    layers: [
      tf.layers.dense({ units: 1, inputShape: [1], weights: [tf.tensor([[2]]), tf.tensor([1])] }),
    ],
  });
  await model.save(tfjsDirSaveHandler(at));
}

/** A Keras-2-layout .h5 (one Dense, y = 3x + 0.5) written with h5wasm. */
function writeKeras(path: string): void {
  const file = new h5wasm.File(path, 'w');
  try {
    const config = {
      class_name: 'Sequential',
      config: {
        name: 's',
        layers: [
          { class_name: 'Dense', config: { name: 'd', units: 1, batch_input_shape: [null, 1] } },
        ],
      },
    };
    file.create_attribute('model_config', JSON.stringify(config));
    const weights = file.create_group('model_weights');
    weights.create_attribute('layer_names', ['d']);
    const layer = weights.create_group('d');
    layer.create_attribute('weight_names', ['d/kernel:0', 'd/bias:0']);
    const inner = layer.create_group('d');
    inner.create_dataset({ name: 'kernel:0', data: Float32Array.of(3), shape: [1, 1] });
    inner.create_dataset({ name: 'bias:0', data: Float32Array.of(0.5), shape: [1] });
  } finally {
    file.close();
  }
}

const writeMetadata = (at: string, metadata: object): Promise<void> =>
  writeFile(join(at, 'metadata.json'), JSON.stringify(metadata));

/** What a loaded model computes for x = 1, whatever its kind. */
function predictOne(loaded: LoadedCheckpoint): number {
  if ((loaded.kind === 'tfjs' && loaded.format === 'layers-model') || loaded.kind === 'keras-h5') {
    const model = loaded.model;
    if (model === undefined) {
      throw new Error('no model');
    }
    return (model.predict(tf.tensor([[1]])) as tf.Tensor).dataSync()[0] ?? NaN;
  }
  throw new Error(`not a runnable layers model: ${loaded.kind}`);
}

describe('loadFromPath: choosing what to load', () => {
  it('loads the only candidate: a TF.js directory', async () => {
    await saveTfjs(dir);
    const loaded = await loadFromPath(dir);
    expect(loaded).toMatchObject({
      kind: 'tfjs',
      format: 'layers-model',
      file: 'model.json',
      path: dir,
      metadata: {},
    });
    expect(predictOne(loaded)).toBe(3);
  });

  it('follows metadata.json among several: framework tfjs, then format h5', async () => {
    await saveTfjs(dir);
    writeKeras(join(dir, 'model.h5'));
    await writeMetadata(dir, { framework: 'tfjs', steps_completed: 5 });
    const tfjsLoaded = await loadFromPath(dir);
    expect(tfjsLoaded).toMatchObject({
      kind: 'tfjs',
      metadata: { framework: 'tfjs', steps_completed: 5 },
    });
    expect(predictOne(tfjsLoaded)).toBe(3);

    await writeMetadata(dir, { framework: 'tensorflow-2.15.0', format: 'h5' });
    const kerasLoaded = await loadFromPath(dir);
    expect(kerasLoaded).toMatchObject({ kind: 'keras-h5', file: 'model.h5' });
    expect(predictOne(kerasLoaded)).toBe(3.5);
  });

  it('the seed era: tensorflow_version picks the Keras file over the TF.js model', async () => {
    await saveTfjs(dir);
    writeKeras(join(dir, 'model.h5'));
    await writeMetadata(dir, { tensorflow_version: '1.15.0' });
    expect((await loadFromPath(dir)).kind).toBe('keras-h5');
  });

  it('several candidates and no metadata: AmbiguousFormatError listing them; a file path chooses', async () => {
    await saveTfjs(dir);
    writeKeras(join(dir, 'model.h5'));
    const error = await loadFromPath(dir).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AmbiguousFormatError);
    expect((error as AmbiguousFormatError).candidates).toEqual(['model.h5', 'model.json']);
    expect((error as Error).message).toBe(
      `${dir}: several checkpoints found and metadata.json does not say which: ` +
        'model.h5 (keras-h5), model.json (tfjs). Pass the path of the one to load.',
    );
    const chosen = await loadFromPath(join(dir, 'model.h5'));
    expect(chosen).toMatchObject({ kind: 'keras-h5', path: dir, file: 'model.h5' });
  });

  it('prefers what lies at the top of the checkpoint over nested copies', async () => {
    await saveTfjs(dir);
    await saveTfjs(join(dir, 'export', 'tfjs'));
    expect(await loadFromPath(dir)).toMatchObject({ kind: 'tfjs', file: 'model.json' });
    await rm(join(dir, 'model.json'));
    await rm(join(dir, 'weights.bin'));
    expect(await loadFromPath(dir)).toMatchObject({ kind: 'tfjs', file: 'export/tfjs/model.json' });
  });

  it('a .keras file is Keras only when it is HDF5 (a Keras 3 zip is not supported)', async () => {
    writeKeras(join(dir, 'model.keras'));
    expect((await loadFromPath(dir)).kind).toBe('keras-h5');
    await rm(join(dir, 'model.keras'));
    await writeFile(join(dir, 'model.keras'), Buffer.from('PK\x03\x04 a Keras 3 zip'));
    await expect(loadFromPath(dir)).rejects.toBeInstanceOf(UnsupportedFormatError);
  });

  it('UnsupportedFormatError lists the files found and the formats supported', async () => {
    await mkdir(join(dir, 'sub'));
    await writeFile(join(dir, 'notes.txt'), 'hi');
    await writeFile(join(dir, 'sub', 'weights.npy'), 'x');
    await writeFile(join(dir, 'weights.bin'), 'not a torch file');
    await writeMetadata(dir, { framework: 'torch-2.1' });
    const error = await loadFromPath(dir).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnsupportedFormatError);
    expect((error as UnsupportedFormatError).found).toEqual([
      'metadata.json',
      'notes.txt',
      'sub/weights.npy',
      'weights.bin',
    ]);
    expect((error as Error).message).toBe(
      `${dir}: no checkpoint format we load. Found: metadata.json, notes.txt, sub/weights.npy, weights.bin. ` +
        'Supported: PyTorch (.pt/.pth/.bin/.ckpt: torch.save zip or legacy format, TorchScript); ' +
        'safetensors (.safetensors); ONNX (.onnx, external data included); ' +
        'TF.js (model.json + weight shards); TensorFlow SavedModel (saved_model.pb + variables/); ' +
        'Keras HDF5 (.h5/.hdf5/.keras).',
    );
  });

  it('an empty directory and an unsupported file are UnsupportedFormatErrors too', async () => {
    await expect(loadFromPath(dir)).rejects.toThrow(
      `${dir}: no checkpoint format we load. Found: nothing (empty directory).`,
    );
    await writeFile(join(dir, 'notes.txt'), 'hi');
    await expect(loadFromPath(join(dir, 'notes.txt'))).rejects.toThrow(
      `${join(dir, 'notes.txt')}: no checkpoint format we load. Found: notes.txt.`,
    );
  });

  it('a path that does not exist, or a metadata.json that is not an object, is a LoaderError', async () => {
    await expect(loadFromPath(join(dir, 'nope'))).rejects.toThrow(
      expect.objectContaining({
        name: 'LoaderError',
        message: expect.stringContaining('nope: ENOENT') as unknown,
      }),
    );
    await saveTfjs(dir);
    await writeFile(join(dir, 'metadata.json'), '[1, 2]');
    await expect(loadFromPath(dir)).rejects.toThrow(
      `${join(dir, 'metadata.json')}: not a JSON object`,
    );
    await writeFile(join(dir, 'metadata.json'), '{"framework": ');
    const error = await loadFromPath(dir).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LoaderError);
    expect((error as Error).message).toBe(`${join(dir, 'metadata.json')}: not valid JSON`);
  });

  it('an optional runtime that is not installed: MissingRuntimeError with how to add it', async () => {
    await saveTfjs(dir);
    const error = await loadCheckpointPath(dir, {}, importWithout('@tensorflow/tfjs')).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(MissingRuntimeError);
    expect(error).toMatchObject({ packageName: '@tensorflow/tfjs' });
    expect((error as Error).message).toMatch(/install it with `npm install @tensorflow\/tfjs`$/);
  });

  it('stops before reading when the signal is already aborted', async () => {
    await saveTfjs(dir);
    await expect(loadFromPath(dir, { signal: AbortSignal.abort() })).rejects.toMatchObject({
      name: 'AbortError',
    });
  });
});

describe.skipIf(!HAS_SHARED_FIXTURES)(
  `loadFromPath on the reference fixtures${NEEDS_SHARED}`,
  () => {
    const fixture = (...parts: string[]): string => join(SHARED_FIXTURES, ...parts);
    const readers = [
      'torch/torch-file.ts',
      'torch/torchscript.ts',
      'safetensors.ts',
      'savedmodel/index.ts',
    ];
    it('the format readers it dispatches to are present', () => {
      for (const reader of readers) {
        expect(existsSync(new URL(reader, import.meta.url)), reader).toBe(true);
      }
    });

    it("Determined's PyTorchTrial checkpoint: torch, layout determined, from metadata.json", async () => {
      const loaded = await loadFromPath(fixture('torch', 'determined_pytorchtrial'));
      expect(loaded).toMatchObject({
        kind: 'torch',
        format: 'zip',
        layout: 'determined',
        file: 'state_dict.pth',
        metadata: { framework: 'torch-1.13.1', format: 'pickle' },
      });
      const weight =
        loaded.kind === 'torch' ? loaded.tensors.get('models_state_dict.0.fc1.weight') : undefined;
      expect(weight?.shape).toEqual([8, 4]);
      expect(weight?.isLoaded).toBe(true);
    });

    it("the seed era's model.pth: layout seed; index mode reads no tensor bytes", async () => {
      await copyFile(fixture('torch', 'mlp_state_dict.pt'), join(dir, 'model.pth'));
      await writeMetadata(dir, { torch_version: '1.13.1' });
      const loaded = await loadFromPath(dir, { tensors: 'index' });
      expect(loaded).toMatchObject({ kind: 'torch', layout: 'seed', file: 'model.pth' });
      const tensors = loaded.kind === 'torch' ? [...loaded.tensors.values()] : [];
      expect(tensors.length).toBeGreaterThan(0);
      expect(tensors.every((t) => !t.isLoaded)).toBe(true);
    });

    it('state_dict.pth is chosen over another .pth; legacy and .bin files are torch too', async () => {
      await copyFile(fixture('torch', 'mlp_state_dict.pt'), join(dir, 'state_dict.pth'));
      await copyFile(fixture('torch', 'dtypes_legacy.pt'), join(dir, 'other.pth'));
      expect(await loadFromPath(dir)).toMatchObject({
        kind: 'torch',
        file: 'state_dict.pth',
        layout: 'plain',
      });
      expect(await loadFromPath(join(dir, 'other.pth'))).toMatchObject({
        kind: 'torch',
        format: 'legacy',
      });
      await rm(join(dir, 'state_dict.pth'));
      await rm(join(dir, 'other.pth'));
      await copyFile(fixture('torch', 'mlp_state_dict.pt'), join(dir, 'pytorch_model.bin'));
      expect(await loadFromPath(dir)).toMatchObject({
        kind: 'torch',
        format: 'zip',
        file: 'pytorch_model.bin',
      });
    });

    it('a TorchScript archive: torchscript with its class names', async () => {
      await copyFile(fixture('torch', 'mlp_scripted.pt'), join(dir, 'model.pt'));
      const loaded = await loadFromPath(dir);
      expect(loaded.kind).toBe('torchscript');
      expect(loaded.kind === 'torchscript' ? loaded.classes.length : 0).toBeGreaterThan(0);
    });

    it('safetensors: a directory reads all its files; a file path reads that file', async () => {
      await copyFile(
        fixture('safetensors', 'mlp_state_dict.safetensors'),
        join(dir, 'model.safetensors'),
      );
      await writeMetadata(dir, { format: 'safetensors' });
      const loaded = await loadFromPath(dir);
      expect(loaded).toMatchObject({ kind: 'safetensors', files: ['model.safetensors'] });
      const single = await loadFromPath(join(dir, 'model.safetensors'));
      expect(single).toMatchObject({ kind: 'safetensors', files: ['model.safetensors'] });
      expect(single.kind === 'safetensors' ? [...single.tensors.keys()] : []).toEqual(
        loaded.kind === 'safetensors' ? [...loaded.tensors.keys()] : [undefined],
      );
    });

    it('a SavedModel: signatures and variables, tags chosen exactly', async () => {
      const loaded = await loadFromPath(fixture('savedmodel', 'saved_model_half_plus_two_cpu'));
      expect(loaded).toMatchObject({ kind: 'savedmodel', runnable: false, tags: ['serve'] });
      const gpu = await loadFromPath(fixture('savedmodel', 'synthetic_two_metagraphs'), {
        tags: ['gpu', 'serve'],
      });
      expect(gpu.kind === 'savedmodel' ? [...gpu.tags].sort() : []).toEqual(['gpu', 'serve']);
      await expect(
        loadFromPath(fixture('savedmodel', 'synthetic_two_metagraphs'), { tags: ['train'] }),
      ).rejects.toThrow(/available tag sets/);
    });

    it('an ONNX file with its external data, chosen by metadata among ONNX and TF.js', async () => {
      await copyFile(fixture('onnx', 'mlp_external.onnx'), join(dir, 'mlp_external.onnx'));
      await copyFile(
        fixture('onnx', 'mlp_external.onnx.data'),
        join(dir, 'mlp_external.onnx.data'),
      );
      await cp(fixture('tfjs', 'mlp_layers_tfjs'), join(dir, 'tfjs'), { recursive: true });
      await writeMetadata(dir, { format: 'onnx' });
      const loaded = await loadFromPath(dir);
      expect(loaded).toMatchObject({ kind: 'onnx', file: 'mlp_external.onnx', inputNames: ['x'] });
      if (loaded.kind === 'onnx') {
        await loaded.session.release();
      }
    });
  },
);
