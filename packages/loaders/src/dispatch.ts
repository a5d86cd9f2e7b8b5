import { readFile, readdir, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';

import type { JsonObject } from '@determined-ts/api';

import type { Candidate } from './candidates.js';
import { METADATA_FILE, classifyFile, findCandidates, listFiles } from './candidates.js';
import { LoaderError } from './errors.js';
import { loadKerasH5 } from './keras.js';
import type { LoadContext } from './load-context.js';
import { loadOnnx } from './onnx.js';
import type { ModuleImporter } from './runtime.js';
import { nativeImport } from './runtime.js';
import { readSafetensors, readSafetensorsDir } from './safetensors.js';
import { readSavedModel } from './savedmodel/index.js';
import { selectCandidate, unsupportedFormat } from './select.js';
import { loadTfjs } from './tfjs.js';
import { loadTorch } from './torch-dispatch.js';
import type { LoadFromPathOptions, LoadedCheckpoint } from './types.js';

async function readMetadata(dir: string): Promise<JsonObject> {
  let textValue: string;
  try {
    textValue = await readFile(join(dir, METADATA_FILE), 'utf8');
  } catch (err: unknown) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      return {};
    }
    throw new LoaderError(`${join(dir, METADATA_FILE)}: cannot read: ${(err as Error).message}`, {
      cause: err,
    });
  }
  let value: unknown;
  try {
    value = JSON.parse(textValue);
  } catch (err: unknown) {
    throw new LoaderError(`${join(dir, METADATA_FILE)}: not valid JSON`, { cause: err });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new LoaderError(`${join(dir, METADATA_FILE)}: not a JSON object`);
  }
  return value as JsonObject;
}

/** The checkpoint directory, its metadata and what to load from `path` (a directory or one file). */
async function locate(
  path: string,
): Promise<{ root: string; metadata: JsonObject; candidate: Candidate }> {
  let isDirectory: boolean;
  try {
    isDirectory = (await stat(path)).isDirectory();
  } catch (err: unknown) {
    throw new LoaderError(`${path}: ${(err as Error).message}`, { cause: err });
  }
  if (!isDirectory) {
    const root = dirname(path);
    const file = basename(path);
    const candidate = await classifyFile(root, file, new Set(await readdir(root)));
    if (candidate === undefined) {
      throw unsupportedFormat(path, [file]);
    }
    return { root, metadata: await readMetadata(root), candidate };
  }
  const files = await listFiles(path);
  const metadata = await readMetadata(path);
  const candidates = await findCandidates(path, files);
  return { root: path, metadata, candidate: selectCandidate(path, candidates, metadata, files) };
}

async function loadSafetensorsCandidate(
  ctx: LoadContext,
  candidate: Candidate,
): Promise<LoadedCheckpoint> {
  const options = { tensors: ctx.tensors, signal: ctx.signal };
  const base = { kind: 'safetensors', path: ctx.path, metadata: ctx.metadata } as const;
  if (candidate.files === undefined) {
    const contents = await readSafetensors(join(ctx.path, candidate.file), options);
    return { ...base, files: [candidate.file], ...contents };
  }
  const contents = await readSafetensorsDir(join(ctx.path, candidate.file), options);
  const prefix = candidate.file === '' ? '' : `${candidate.file}/`;
  return { ...base, ...contents, files: contents.files.map((f) => prefix + f) };
}

/**
 * {@link loadFromPath} with the module importer injectable: tests pass one that resolves from
 * a directory without the optional runtimes.
 */
export async function loadCheckpointPath(
  path: string,
  options: LoadFromPathOptions,
  importModule: ModuleImporter,
): Promise<LoadedCheckpoint> {
  options.signal?.throwIfAborted();
  const { root, metadata, candidate } = await locate(resolve(path));
  const ctx: LoadContext = {
    path: root,
    metadata,
    tensors: options.tensors ?? 'eager',
    signal: options.signal,
    importModule,
  };
  switch (candidate.kind) {
    case 'torch':
      return loadTorch(ctx, candidate.file);
    case 'safetensors':
      return loadSafetensorsCandidate(ctx, candidate);
    case 'savedmodel':
      return {
        ...(await readSavedModel(join(root, candidate.file), {
          tags: options.tags,
          tensors: ctx.tensors,
          signal: ctx.signal,
        })),
        path: root,
        metadata: ctx.metadata,
      };
    case 'onnx':
      return loadOnnx(ctx, candidate.file);
    case 'tfjs':
      return loadTfjs(ctx, candidate.file);
    case 'keras-h5':
      return loadKerasH5(ctx, candidate.file);
  }
}

/**
 * Loads the checkpoint in `path` (a checkpoint directory, or one file in it to choose among
 * several) into memory. The format comes from `metadata.json` (`framework`, `format`, the seed
 * era's `torch_version` / `tensorflow_version`) and the files present:
 *
 * - PyTorch `.pt`/`.pth` (zip or legacy `torch.save`): `kind: 'torch'`, a tree of tensors read
 *   without Python; a TorchScript archive: `kind: 'torchscript'`.
 * - `.safetensors` (one file or a directory's shards): `kind: 'safetensors'`.
 * - `.onnx`: `kind: 'onnx'`, an `onnxruntime-node` session (optional dependency).
 * - TF.js `model.json` + shards: `kind: 'tfjs'`, a `@tensorflow/tfjs` model (optional dependency).
 * - TensorFlow SavedModel: `kind: 'savedmodel'`, its signatures and variables. It cannot be run
 *   in Node.
 * - Keras `.h5`: `kind: 'keras-h5'`, config and weights, runnable through tfjs where supported.
 *
 * Throws `UnsupportedFormatError` (lists the files found and the formats supported),
 * `AmbiguousFormatError` (several candidates), `MissingRuntimeError` (an optional runtime is
 * not installed), `LoaderError` (malformed file).
 *
 * @example
 * const loaded = await loadFromPath('checkpoints/3f2a…');
 * if (loaded.kind === 'onnx') {
 *   const out = await loaded.session.run({ x: input });
 * }
 */
export function loadFromPath(
  path: string,
  options: LoadFromPathOptions = {},
): Promise<LoadedCheckpoint> {
  return loadCheckpointPath(path, options, nativeImport);
}
