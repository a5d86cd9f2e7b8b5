import { open, readdir } from 'node:fs/promises';
import { basename, dirname, extname, join } from 'node:path';

import { isHdf5File } from './keras-h5.js';

/** A format the dispatcher can load; `torch` covers torch.save files and TorchScript archives. */
export type CandidateKind = 'torch' | 'safetensors' | 'onnx' | 'tfjs' | 'savedmodel' | 'keras-h5';

/** Something in the checkpoint that one loader can read. */
export interface Candidate {
  readonly kind: CandidateKind;
  /**
   * Checkpoint-relative, `/`-separated: the file, or the directory for a SavedModel and for
   * safetensors shards (`''` is the checkpoint itself).
   */
  readonly file: string;
  /** safetensors found by scanning: the directory's `.safetensors` files, read together. */
  readonly files?: readonly string[];
}

/** How errors and docs name each kind. */
export const KIND_LABELS: Readonly<Record<CandidateKind, string>> = {
  torch: 'PyTorch (.pt/.pth/.bin/.ckpt: torch.save zip or legacy format, TorchScript)',
  safetensors: 'safetensors (.safetensors)',
  onnx: 'ONNX (.onnx, external data included)',
  tfjs: 'TF.js (model.json + weight shards)',
  savedmodel: 'TensorFlow SavedModel (saved_model.pb + variables/)',
  'keras-h5': 'Keras HDF5 (.h5/.hdf5/.keras)',
};

export const METADATA_FILE = 'metadata.json';

/** Every regular file under `dir`, checkpoint-relative with `/`, sorted. */
export async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (abs: string, prefix: string): Promise<void> => {
    for (const entry of await readdir(abs, { withFileTypes: true })) {
      if (entry.isDirectory()) {
        await walk(join(abs, entry.name), `${prefix}${entry.name}/`);
      } else if (entry.isFile()) {
        out.push(prefix + entry.name);
      }
    }
  };
  await walk(dir, '');
  return out.sort();
}

async function head(absPath: string, length: number): Promise<Buffer> {
  const handle = await open(absPath, 'r');
  try {
    const buffer = Buffer.alloc(length);
    const { bytesRead } = await handle.read(buffer, 0, length, 0);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

/** torch.save writes a zip (`PK\3\4`) or, in the legacy format, a pickle (protocol 2 to 5). */
async function looksLikeTorch(absPath: string): Promise<boolean> {
  const bytes = await head(absPath, 4);
  const isZip = bytes.length === 4 && bytes.readUInt32LE(0) === 0x04034b50;
  const isPickle =
    bytes.length >= 2 && bytes[0] === 0x80 && (bytes[1] ?? 0) >= 2 && (bytes[1] ?? 0) <= 5;
  return isZip || isPickle;
}

const dirOf = (file: string): string => (dirname(file) === '.' ? '' : dirname(file));

/**
 * What one file is, by name and, where the extension is shared with other formats (`.bin` is
 * also a TF.js shard, `.keras` also a Keras 3 zip), by its first bytes. `siblings` are the
 * checkpoint's other files, to tell a TF.js shard from a PyTorch `.bin`.
 */
export async function classifyFile(
  root: string,
  file: string,
  siblings: ReadonlySet<string>,
): Promise<Candidate | undefined> {
  const name = basename(file);
  const ext = extname(name).toLowerCase();
  const abs = join(root, file);
  const dir = dirOf(file);
  if (name === 'saved_model.pb') {
    return { kind: 'savedmodel', file: dir };
  }
  if (name === 'model.json') {
    return { kind: 'tfjs', file };
  }
  switch (ext) {
    case '.onnx':
      return { kind: 'onnx', file };
    case '.safetensors':
      return { kind: 'safetensors', file };
    case '.h5':
    case '.hdf5':
      return { kind: 'keras-h5', file };
    case '.keras':
      return (await isHdf5File(abs)) ? { kind: 'keras-h5', file } : undefined;
    case '.pt':
    case '.pth':
      return { kind: 'torch', file };
    case '.bin':
    case '.ckpt': {
      const inTfjsModel = siblings.has(dir === '' ? 'model.json' : `${dir}/model.json`);
      return !inTfjsModel && (await looksLikeTorch(abs)) ? { kind: 'torch', file } : undefined;
    }
    default:
      return undefined;
  }
}

/** The candidates among `files`; the safetensors files of one directory make one candidate. */
export async function findCandidates(root: string, files: readonly string[]): Promise<Candidate[]> {
  const siblings = new Set(files);
  const out: Candidate[] = [];
  const safetensorsByDir = new Map<string, string[]>();
  for (const file of files) {
    if (file === METADATA_FILE) {
      continue;
    }
    const candidate = await classifyFile(root, file, siblings);
    if (candidate?.kind === 'safetensors') {
      const group = safetensorsByDir.get(dirOf(file)) ?? [];
      group.push(file);
      safetensorsByDir.set(dirOf(file), group);
    } else if (candidate !== undefined) {
      out.push(candidate);
    }
  }
  for (const [dir, group] of safetensorsByDir) {
    out.push({ kind: 'safetensors', file: dir, files: group });
  }
  return out;
}
