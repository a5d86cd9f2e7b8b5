import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import * as ort from 'onnxruntime-node';
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
import { loadOnnx } from './onnx.js';
import type { OnnxCheckpoint } from './types.js';

const ONNX = join(SHARED_FIXTURES, 'onnx');

interface Expected {
  input: Record<string, number[][]>;
  output: Record<string, number[][]>;
}

async function expectOutputs(loaded: OnnxCheckpoint, expected: Expected): Promise<void> {
  const feeds = Object.fromEntries(
    Object.entries(expected.input).map(([name, rows]) => [
      name,
      new ort.Tensor('float32', Float32Array.from(flatten(rows)), [
        rows.length,
        rows[0]?.length ?? 0,
      ]),
    ]),
  );
  const outputs = await loaded.session.run(feeds);
  for (const [name, rows] of Object.entries(expected.output)) {
    const output = outputs[name];
    expect(output?.dims).toEqual([rows.length, rows[0]?.length]);
    expectClose(output?.data as Float32Array, flatten(rows));
  }
}

const readExpected = async (name: string): Promise<Expected> =>
  JSON.parse(await readFile(join(ONNX, `${name}.expected.json`), 'utf8')) as Expected;

describe.skipIf(!HAS_SHARED_FIXTURES)(
  `ONNX loader on the reference fixtures${NEEDS_SHARED}`,
  () => {
    let dir: string;
    beforeEach(async () => {
      dir = await mkdtemp(join(tmpdir(), 'det-onnx-'));
    });
    afterEach(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    it.each(['mlp_helper.onnx', 'mlp_torch_export.onnx'])(
      '%s runs and matches the recorded outputs within 1e-5',
      async (file) => {
        const loaded = await loadOnnx(loadContext(ONNX), file);
        expect(loaded).toMatchObject({
          kind: 'onnx',
          file,
          path: ONNX,
          inputNames: ['x'],
          outputNames: ['y'],
        });
        await expectOutputs(loaded, await readExpected(file));
        await loaded.session.release();
      },
    );

    it('reads external data next to the model (mlp_external.onnx is mlp_helper with its weights outside)', async () => {
      await copyFile(join(ONNX, 'mlp_external.onnx'), join(dir, 'mlp_external.onnx'));
      await copyFile(join(ONNX, 'mlp_external.onnx.data'), join(dir, 'mlp_external.onnx.data'));
      const loaded = await loadOnnx(loadContext(dir), 'mlp_external.onnx');
      await expectOutputs(loaded, await readExpected('mlp_helper.onnx'));
      await loaded.session.release();
    });

    it('fails naming the file when the external data file is missing', async () => {
      await copyFile(join(ONNX, 'mlp_external.onnx'), join(dir, 'mlp_external.onnx'));
      const error = await loadOnnx(loadContext(dir), 'mlp_external.onnx').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(LoaderError);
      expect((error as Error).message).toMatch(
        /^mlp_external\.onnx: onnxruntime could not load it: /,
      );
    });

    it('fails naming the file for a truncated model', async () => {
      const bytes = await readFile(join(ONNX, 'mlp_helper.onnx'));
      await writeFile(join(dir, 'cut.onnx'), bytes.subarray(0, 100));
      await expect(loadOnnx(loadContext(dir), 'cut.onnx')).rejects.toThrow(
        /^cut\.onnx: onnxruntime could not load it: .*Protobuf parsing failed/,
      );
    });
  },
);

describe('ONNX loader without onnxruntime-node', () => {
  it('says which package to install', async () => {
    const ctx = loadContext(tmpdir(), { importModule: importWithout('onnxruntime-node') });
    const error = await loadOnnx(ctx, 'model.onnx').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MissingRuntimeError);
    expect(error).toMatchObject({
      packageName: 'onnxruntime-node',
      message:
        'Loading the ONNX model model.onnx needs the optional package onnxruntime-node: ' +
        'install it with `npm install onnxruntime-node`',
    });
  });
});
