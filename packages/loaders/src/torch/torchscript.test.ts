import { existsSync } from 'node:fs';
import path from 'node:path';

import { describe, expect, it } from 'vitest';

import {
  OWN_TORCH_FIXTURES,
  SHARED_TORCH_FIXTURES,
  expectTensorMatches,
  readExpected,
} from '../../test/torch-expected.js';
import { LoaderError } from '../errors.js';
import { PickleObject } from './pickle-values.js';
import { readTorchFile, withTorchFile } from './torch-file.js';
import { isTorchScriptArchive, readTorchScript } from './torchscript.js';

async function expectScriptMatches(file: string): Promise<void> {
  const expected = readExpected(file);
  const { tensors } = await readTorchScript(file);
  expect([...tensors.keys()].sort()).toEqual(Object.keys(expected.tensors).sort());
  for (const [name, tensor] of tensors) {
    expectTensorMatches(name, tensor, expected.tensors[name]!);
  }
}

describe('readTorchScript', () => {
  const file = path.join(OWN_TORCH_FIXTURES, 'scripted.pt');

  it('reads the tensors of a traced module, its constants included', async () => {
    await expectScriptMatches(file);
  });

  it('lists the scripted classes from data.pkl and the code files', async () => {
    const { classes, root } = await readTorchScript(file, { tensors: 'index' });
    expect(classes).toEqual(readExpected(file).classes);
    expect((root as PickleObject).$class).toBe('__torch__.Tiny');
  });

  it('names classes that only the code defines', async () => {
    const withClass = path.join(OWN_TORCH_FIXTURES, 'scripted_class.pt');
    const { classes, tensors } = await readTorchScript(withClass);
    expect(classes).toEqual(readExpected(withClass).classes);
    expectTensorMatches('bias', tensors.get('bias')!, readExpected(withClass).tensors.bias!);
  });

  it('reads no tensor bytes in index mode', async () => {
    const { tensors } = await readTorchScript(file, { tensors: 'index' });
    expect([...tensors.values()].some((tensor) => tensor.isLoaded)).toBe(false);
  });

  it('tells TorchScript archives from plain torch.save ones', async () => {
    const isScript = (name: string): Promise<boolean> =>
      withTorchFile(path.join(OWN_TORCH_FIXTURES, name), undefined, ({ archive }) =>
        Promise.resolve(archive !== undefined && isTorchScriptArchive(archive)),
      );
    expect(await isScript('scripted.pt')).toBe(true);
    expect(await isScript('views.pt')).toBe(false);
  });

  it('refuses a plain torch.save file', async () => {
    const plain = path.join(OWN_TORCH_FIXTURES, 'views.pt');
    await expect(readTorchScript(plain)).rejects.toThrow(LoaderError);
    await expect(readTorchScript(plain)).rejects.toThrow(/not a TorchScript archive/);
  });

  it('is also readable as a plain torch file (its modules inert)', async () => {
    const { root, tensors } = await readTorchFile(file, { tensors: 'index' });
    expect(root).toBeInstanceOf(PickleObject);
    expect(tensors.has('lin.weight')).toBe(true);
  });
});

describe.skipIf(!existsSync(SHARED_TORCH_FIXTURES))(
  'readTorchScript on the reference fixtures (skipped: ../shared/fixtures/torch is absent)',
  () => {
    const file = path.join(SHARED_TORCH_FIXTURES, 'mlp_scripted.pt');

    it('reads mlp_scripted.pt exactly as torch wrote it', async () => {
      await expectScriptMatches(file);
    });

    it('names every scripted class of mlp_scripted.pt', async () => {
      const { classes } = await readTorchScript(file, { tensors: 'index' });
      expect(classes).toEqual([
        '__torch__.fixture_models.MLP',
        '__torch__.torch.nn.modules.activation.ReLU',
        '__torch__.torch.nn.modules.linear.Linear',
        '__torch__.torch.nn.modules.linear.___torch_mangle_0.Linear',
      ]);
    });
  },
);
