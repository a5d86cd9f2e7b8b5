import { existsSync } from 'node:fs';
import { copyFile, mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  OWN_TORCH_FIXTURES,
  SHARED_TORCH_FIXTURES,
  expectTensorMatches,
  readExpected,
} from '../../test/torch-expected.js';
import { LoaderError } from '../errors.js';
import { PickleObject } from './pickle-values.js';
import { readTorchFile } from './torch-file.js';
import type { TorchTensor } from './torch-tensor.js';

async function expectMatchesExpected(file: string): Promise<void> {
  const expected = readExpected(file);
  const { tensors } = await readTorchFile(file);
  expect([...tensors.keys()].sort()).toEqual(Object.keys(expected.tensors).sort());
  for (const [name, tensor] of tensors) {
    const want = expected.tensors[name];
    if (want !== undefined) {
      expectTensorMatches(name, tensor, want);
    }
  }
}

const own = (name: string): string => path.join(OWN_TORCH_FIXTURES, name);

describe('readTorchFile', () => {
  let scratch: string;
  beforeAll(async () => {
    scratch = await mkdtemp(path.join(tmpdir(), 'torch-file-'));
  });
  afterAll(async () => {
    await rm(scratch, { recursive: true, force: true });
  });

  it.each([
    'state_dict.pt',
    'views.pt',
    'dtypes_proto4.pt',
    'legacy.pt',
    'legacy_view.pt',
    'module_full.pt',
    'legacy_module.pt',
    'zip64.pt',
  ])('reads %s exactly as torch reads it', async (name) => {
    await expectMatchesExpected(own(name));
  });

  it('tells the zip format from the legacy one', async () => {
    expect((await readTorchFile(own('views.pt'), { tensors: 'index' })).format).toBe('zip');
    expect((await readTorchFile(own('legacy.pt'), { tensors: 'index' })).format).toBe('legacy');
  });

  it('unpickles the plain values of a training state', async () => {
    const { root } = await readTorchFile(own('state_dict.pt'), { tensors: 'index' });
    const state = root as Map<string, unknown>;
    expect(state.get('epoch')).toBe(5);
    expect(state.get('big')).toBe(2n ** 70n);
    expect(state.get('negative')).toBe(-(2 ** 40));
    expect(state.get('ratio')).toBe(0.25);
    expect(state.get('name')).toBe('tiny ✓');
    expect(state.get('raw')).toEqual(new Uint8Array([0, 1, 255]));
    expect(state.get('tags')).toEqual(new Set(['a']));
    expect(state.get('frozen')).toEqual(new Set([1]));
    expect(state.get('nothing')).toBeNull();
    expect(state.get('np_f64')).toBe(0.5);
    expect(state.get('np_i64')).toBe(-7);
    expect(state.get('complex')).toEqual({ real: 1, imag: 2 });
    expect(state.get('device')).toBe('cuda:1');
    expect(state.get('dtype')).toBe('float16');
    expect(state.get('size')).toEqual([2, 3]);
    const optimizer = state.get('optimizer') as Map<string, Map<unknown, unknown>>;
    expect([...(optimizer.get('state')?.keys() ?? [])]).toEqual([0]);
  });

  it('shares one storage between views of it, and one tensor between its names', async () => {
    const { tensors } = await readTorchFile(own('views.pt'));
    const base = tensors.get('base');
    expect(tensors.get('rows')?.storage).toBe(base?.storage);
    expect(tensors.get('transposed')?.storage).toBe(base?.storage);
    expect(tensors.get('same')).toBe(base);
    expect(tensors.get('rows')?.storageOffset).toBe(4);
  });

  it('reads no tensor bytes in index mode, and loads a tensor on request', async () => {
    const { tensors } = await readTorchFile(own('legacy.pt'), { tensors: 'index' });
    const weight = tensors.get('weight');
    expect(weight?.shape).toEqual([2, 3]);
    expect(weight?.isLoaded).toBe(false);
    expect(() => weight?.view()).toThrow(LoaderError);
    await weight?.load();
    expect(weight?.isLoaded).toBe(true);
    expect(tensors.get('half')?.isLoaded).toBe(false);
    expectTensorMatches(
      'weight',
      weight as TorchTensor,
      readExpected(own('legacy.pt')).tensors.weight!,
    );
  });

  it('reads storages lazily, each once however many tensors share it', async () => {
    const { tensors } = await readTorchFile(own('views.pt'), { tensors: 'lazy' });
    const [rows, every3] = [tensors.get('rows'), tensors.get('every3')];
    expect(rows?.isLoaded).toBe(false);
    await Promise.all([rows?.load(), every3?.load()]);
    expect(tensors.get('base')?.isLoaded).toBe(true);
    expect([...(every3?.toArray() ?? [])]).toEqual([0, 3, 6, 9]);
  });

  it('gives up a lazy load whose signal aborts, and loads on a later call', async () => {
    const { tensors } = await readTorchFile(own('views.pt'), { tensors: 'lazy' });
    const base = tensors.get('base');
    await expect(base?.load(AbortSignal.abort())).rejects.toThrow(/abort/i);
    expect(base?.isLoaded).toBe(false);
    await base?.load();
    expect(base?.isLoaded).toBe(true);
  });

  it('refuses a lazy load from a file changed since it was indexed', async () => {
    const file = path.join(scratch, 'changed.pt');
    await copyFile(own('views.pt'), file);
    const { tensors } = await readTorchFile(file, { tensors: 'lazy' });
    await writeFile(file, Buffer.concat([await readFile(file), Buffer.from('x')]));
    await expect(tensors.get('base')?.load()).rejects.toThrow(/changed since it was indexed/);
  });

  it('unpickles a whole nn.Module as inert objects named by their classes', async () => {
    const { root } = await readTorchFile(own('module_full.pt'), { tensors: 'index' });
    expect(root).toBeInstanceOf(PickleObject);
    const module = root as PickleObject;
    expect(module.$class).toBe('__main__.Tiny');
    const modules = (module.state as Map<string, unknown>).get('_modules') as Map<string, unknown>;
    expect((modules.get('lin') as PickleObject).$class).toBe('torch.nn.modules.linear.Linear');
  });

  it('never runs what a malicious pickle calls', async () => {
    const { root, tensors } = await readTorchFile(own('malicious.pt'));
    const payload = (root as Map<string, unknown>).get('payload');
    expect(payload).toBeInstanceOf(PickleObject);
    expect((payload as PickleObject).$class).toBe('posix.system');
    expect((payload as PickleObject).args).toEqual(['touch /tmp/determined-ts-pwned']);
    expect(existsSync('/tmp/determined-ts-pwned')).toBe(false);
    expect(tensors.size).toBe(0);
  });

  it('reads a legacy file whose pickles run past its first read', async () => {
    // Legacy pickles by hand: magic number, protocol 1001, sys_info, then an object holding
    // 1.5 MiB of bytes (more than the first read of the file), then no storages.
    const big = Buffer.alloc(1.5 * 1024 * 1024, 7);
    const length = Buffer.alloc(4);
    length.writeUInt32LE(big.byteLength);
    const magic = Buffer.from('6c fc 9c 46 f9 20 6a a8 50 19'.replaceAll(' ', ''), 'hex');
    const file = path.join(scratch, 'big-pickle.pt');
    await writeFile(
      file,
      Buffer.concat([
        Buffer.from([0x80, 2, 0x8a, 10]),
        magic,
        Buffer.from('.\x80\x02M\xe9\x03.\x80\x02}.\x80\x02B', 'latin1'),
        length,
        big,
        Buffer.from('.\x80\x02].', 'latin1'),
      ]),
    );
    const { format, root } = await readTorchFile(file);
    expect(format).toBe('legacy');
    expect(root).toEqual(new Uint8Array(big));
  });

  it.each([
    ['a zip cut in half', 'views.pt', 0.5, /truncated/],
    ['a zip missing its last byte', 'views.pt', -1, /truncated|central directory/],
    ['a legacy file cut in its pickles', 'legacy.pt', 0.3, /truncated/],
    ['a legacy file cut in its tensor bytes', 'legacy.pt', -4, /truncated/],
  ])('rejects %s with a LoaderError naming the file', async (_, name, cut, message) => {
    const file = path.join(scratch, `cut-${name}`);
    await copyFile(own(name), file);
    const size = (await readFile(file)).byteLength;
    await truncate(file, cut > 0 ? Math.floor(size * cut) : size + cut);
    const reading = readTorchFile(file);
    await expect(reading).rejects.toThrow(LoaderError);
    await expect(reading).rejects.toThrow(message);
    await expect(reading).rejects.toThrow(file);
  });

  it('refuses an archive whose byteorder record says big-endian', async () => {
    await expect(readTorchFile(own('byteorder_big.pt'))).rejects.toThrow(/big-endian/);
  });

  it('rejects a corrupt pickle record (CRC-32 mismatch)', async () => {
    const bytes = await readFile(own('state_dict.pt'));
    const at = bytes.indexOf('_rebuild_tensor_v2');
    bytes[at] = 0x21;
    const file = path.join(scratch, 'corrupt.pt');
    await writeFile(file, bytes);
    await expect(readTorchFile(file)).rejects.toThrow(/data\.pkl is corrupt/);
  });

  it.each([
    ['text', Buffer.from('just some text, no archive\n')],
    ['an empty file', Buffer.alloc(0)],
    ['a tar file', Buffer.concat([Buffer.alloc(257), Buffer.from('ustar'), Buffer.alloc(250)])],
  ])('rejects %s as not a torch file', async (name, bytes) => {
    const file = path.join(scratch, `${name}.pt`);
    await writeFile(file, bytes);
    await expect(readTorchFile(file)).rejects.toThrow(LoaderError);
  });

  it('stops when its signal is aborted', async () => {
    const controller = new AbortController();
    controller.abort();
    await expect(readTorchFile(own('views.pt'), { signal: controller.signal })).rejects.toThrow(
      /abort/i,
    );
  });
});

describe.skipIf(!existsSync(SHARED_TORCH_FIXTURES))(
  'readTorchFile on the reference fixtures (skipped: ../shared/fixtures/torch is absent)',
  () => {
    const shared = (name: string): string => path.join(SHARED_TORCH_FIXTURES, name);

    it.each([
      'mlp_state_dict.pt',
      'dtypes.pt',
      'dtypes_legacy.pt',
      'dtypes_proto4.pt',
      'views.pt',
      'views_legacy.pt',
      'mlp_module_full.pt',
      'determined_pytorchtrial/state_dict.pth',
    ])('reads %s exactly as torch wrote it', async (name) => {
      await expectMatchesExpected(shared(name));
    });

    it('reads all 20k tensors of many_tensors_20k.pt', async () => {
      const file = shared('many_tensors_20k.pt');
      const expected = readExpected(file);
      const { tensors } = await readTorchFile(file);
      expect(tensors.size).toBe(expected.tensor_count);
      for (const [name, want] of Object.entries(expected.tensors)) {
        expectTensorMatches(name, tensors.get(name) as TorchTensor, want);
      }
      let i = 0;
      for (const tensor of tensors.values()) {
        expect((tensor.toArray() as Float32Array).every((value) => value === i)).toBe(true);
        i += 1;
      }
    });

    it('loads 20k lazy tensors requested together', async () => {
      const { tensors } = await readTorchFile(shared('many_tensors_20k.pt'), { tensors: 'lazy' });
      await Promise.all([...tensors.values()].map((tensor) => tensor.load()));
      expect([...tensors.values()].every((tensor) => tensor.isLoaded)).toBe(true);
      expect([...(tensors.get('layer4999.p3')?.toArray() ?? [])]).toEqual(new Array(8).fill(19999));
    });

    it('keeps numpy RNG state inert in a PyTorchTrial checkpoint', async () => {
      const { root } = await readTorchFile(shared('determined_pytorchtrial/state_dict.pth'), {
        tensors: 'index',
      });
      const rng = (root as Map<string, Map<string, unknown>>).get('rng_state');
      const numpyState = rng?.get('np_rng_state') as unknown[];
      expect(numpyState[0]).toBe('MT19937');
      expect((numpyState[1] as PickleObject).$class).toBe('numpy.core.multiarray._reconstruct');
    });
  },
);
