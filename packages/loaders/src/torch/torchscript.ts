import { LoaderError } from '../errors.js';
import type { Tensor } from '../tensor.js';
import type { TensorMap } from '../types.js';
import type { PickleValue } from './pickle-values.js';
import { collectTensors } from './tensor-paths.js';
import type { ReadTorchOptions } from './torch-file.js';
import { withTorchFile } from './torch-file.js';
import { resolveTorchGlobal } from './torch-globals.js';
import type { TorchArchive } from './torch-zip.js';

const SCRIPT_CLASS_PREFIX = '__torch__.';
/** `class Name(...):` at the start of a line of TorchScript's generated code. */
const CLASS_LINE = /^class\s+([A-Za-z_]\w*)/gm;

export interface TorchScriptFile {
  /** The module's tensors by attribute path (`fc1.weight`); constants as `constants.<i>`. */
  readonly tensors: TensorMap;
  /** Qualified names of the scripted classes (`__torch__.fixture_models.MLP`), sorted. */
  readonly classes: readonly string[];
  /** data.pkl unpickled: the module tree as inert objects. */
  readonly root: PickleValue;
}

/** Whether a torch archive is TorchScript (`torch.jit.save`): it has code or constants. */
export function isTorchScriptArchive(archive: TorchArchive): boolean {
  if (archive.find('constants.pkl') !== undefined) {
    return true;
  }
  const code = `${archive.prefix}code/`;
  return [...archive.zip.entries.keys()].some((name) => name.startsWith(code));
}

/**
 * Reads a TorchScript archive's tensors and class names. Its code is only read for class
 * names, never run. Not TorchScript (a plain `torch.save` file) is a {@link LoaderError}.
 */
export async function readTorchScript(
  absPath: string,
  { tensors: mode = 'eager', signal }: ReadTorchOptions = {},
): Promise<TorchScriptFile> {
  return withTorchFile(absPath, signal, async ({ handle, file, archive }) => {
    if (archive === undefined || !isTorchScriptArchive(archive)) {
      throw new LoaderError(`${absPath}: not a TorchScript archive (no code/ or constants.pkl)`);
    }
    const classes = new Set<string>();
    const resolveGlobal = (name: string): PickleValue => {
      if (name.startsWith(SCRIPT_CLASS_PREFIX)) {
        classes.add(name);
      }
      return resolveTorchGlobal(name);
    };
    const root = await archive.unpickleRecord('data.pkl', 'data/', resolveGlobal, signal);
    const tensors: Map<string, Tensor> = collectTensors(root, absPath);
    if (archive.find('constants.pkl') !== undefined) {
      const constants = await archive.unpickleRecord(
        'constants.pkl',
        'constants/',
        resolveGlobal,
        signal,
      );
      for (const [path, tensor] of collectTensors(constants, absPath)) {
        tensors.set(`constants.${path}`, tensor);
      }
    }
    for (const name of await codeClasses(archive, signal)) {
      classes.add(name);
    }
    if (mode === 'eager') {
      await file.load(archive.storages.values(), handle, signal);
    }
    return { tensors, classes: [...classes].sort(), root };
  });
}

/** Classes defined in `code/<module path>.py` files, qualified by that module path. */
async function codeClasses(archive: TorchArchive, signal?: AbortSignal): Promise<string[]> {
  const names = [...archive.zip.entries.keys()]
    .filter((name) => name.startsWith(`${archive.prefix}code/`) && name.endsWith('.py'))
    .map((name) => name.slice(archive.prefix.length));
  const found = await Promise.all(
    names.map(async (name) => {
      const module = name.slice('code/'.length, -'.py'.length).replaceAll('/', '.');
      const source = (await archive.read(name, signal)).toString('utf8');
      return [...source.matchAll(CLASS_LINE)].map((match) => `${module}.${match[1] ?? ''}`);
    }),
  );
  return found.flat();
}
