import { mkdir, open, rename, writeFile } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';

import type { io } from '@tensorflow/tfjs';

import { LoaderError } from './errors.js';
import { openForReading, readInto } from './file-storage.js';

/** The file names {@link tfjsDirSaveHandler} writes, and tfjs-node's `file://` handler too. */
export const TFJS_MODEL_FILE = 'model.json';
export const TFJS_WEIGHTS_FILE = 'weights.bin';

/** A whole file in an `ArrayBuffer` of its own (readFile's Buffer may sit inside a larger one). */
async function readWholeFile(path: string, signal: AbortSignal | undefined): Promise<ArrayBuffer> {
  const handle = await openForReading(path);
  try {
    const bytes = new ArrayBuffer((await handle.stat()).size);
    await readInto(handle, new Uint8Array(bytes), 0, path, signal);
    return bytes;
  } finally {
    await handle.close();
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A weight shard path from a model.json, resolved inside `dir` or refused. */
function shardPath(dir: string, shard: unknown, name: string): string {
  if (typeof shard !== 'string' || shard === '' || isAbsolute(shard)) {
    throw new LoaderError(`${name}: weightsManifest path ${JSON.stringify(shard)} is not relative`);
  }
  const abs = resolve(dir, shard);
  const rel = relative(dir, abs);
  if (rel === '' || rel.split(sep)[0] === '..' || isAbsolute(rel)) {
    throw new LoaderError(
      `${name}: weightsManifest path ${JSON.stringify(shard)} leaves the model directory`,
    );
  }
  return abs;
}

/** Checks the parts of a model.json that reading needs; the rest is tfjs's to judge. */
function parseModelJson(text: string, name: string): io.ModelJSON {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err: unknown) {
    throw new LoaderError(`${name}: not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  if (!isObject(json) || !isObject(json.modelTopology)) {
    throw new LoaderError(`${name}: not a TF.js model.json (no modelTopology object)`);
  }
  const manifest = json.weightsManifest ?? [];
  if (
    !Array.isArray(manifest) ||
    !manifest.every((g) => isObject(g) && Array.isArray(g.paths) && Array.isArray(g.weights))
  ) {
    throw new LoaderError(`${name}: weightsManifest is not a list of { paths, weights } groups`);
  }
  return { ...json, weightsManifest: manifest } as unknown as io.ModelJSON;
}

/**
 * Reads a TF.js model directory (`model.json` and the shards its `weightsManifest` lists) into
 * the artifacts tfjs builds a model from. Each shard is one `ArrayBuffer`, passed as a list, so
 * nothing is concatenated. `name` prefixes errors (the checkpoint-relative model.json).
 */
export async function readTfjsArtifacts(
  dir: string,
  options: { name?: string; signal?: AbortSignal } = {},
): Promise<io.ModelArtifacts> {
  const name = options.name ?? join(dir, TFJS_MODEL_FILE);
  const modelJson = parseModelJson(
    new TextDecoder().decode(await readWholeFile(join(dir, TFJS_MODEL_FILE), options.signal)),
    name,
  );
  const groups = modelJson.weightsManifest;
  const weightSpecs = groups.flatMap((group) => group.weights);
  const shards: ArrayBuffer[] = [];
  for (const group of groups) {
    for (const shard of group.paths) {
      shards.push(await readWholeFile(shardPath(dir, shard, name), options.signal));
    }
  }
  const { weightsManifest: _manifest, ...rest } = modelJson;
  if (shards.length === 0) {
    return { ...rest, weightSpecs };
  }
  return { ...rest, weightSpecs, weightData: shards.length === 1 ? shards[0] : shards };
}

/**
 * A tfjs IO handler that loads a model from a directory:
 * `await tf.loadLayersModel(tfjsDirLoadHandler(dir))` (or `tf.loadGraphModel`).
 */
export function tfjsDirLoadHandler(
  dir: string,
  options: { signal?: AbortSignal } = {},
): io.IOHandler {
  return { load: () => readTfjsArtifacts(dir, options) };
}

async function writeWeights(path: string, data: io.WeightData | undefined): Promise<number> {
  const parts = data === undefined ? [] : Array.isArray(data) ? data : [data];
  const handle = await open(path, 'w');
  let bytes = 0;
  try {
    for (const part of parts) {
      await handle.write(new Uint8Array(part));
      bytes += part.byteLength;
    }
  } finally {
    await handle.close();
  }
  return bytes;
}

/**
 * A tfjs IO handler that saves a model into a directory as `model.json` + `weights.bin`, the
 * layout {@link tfjsDirLoadHandler} and `loadFromPath` read:
 * `await model.save(tfjsDirSaveHandler(dir))`. The directory is created if needed; model.json
 * is written after the weights and renamed into place, so no reader sees half of it.
 */
export function tfjsDirSaveHandler(dir: string): io.IOHandler {
  return {
    save: async (artifacts) => {
      if (artifacts.modelTopology instanceof ArrayBuffer) {
        throw new LoaderError(
          `${dir}: a binary (GraphDef) model topology cannot be saved as model.json`,
        );
      }
      await mkdir(dir, { recursive: true });
      const weightDataBytes = await writeWeights(
        join(dir, TFJS_WEIGHTS_FILE),
        artifacts.weightData,
      );
      const weightSpecs = artifacts.weightSpecs ?? [];
      const {
        weightData: _data,
        weightSpecs: _specs,
        getWeightStream: _stream,
        ...fields
      } = artifacts;
      const modelJson = {
        ...fields,
        weightsManifest: [{ paths: [TFJS_WEIGHTS_FILE], weights: weightSpecs }],
      };
      const staging = join(dir, `.${TFJS_MODEL_FILE}.partial`);
      await writeFile(staging, JSON.stringify(modelJson));
      await rename(staging, join(dir, TFJS_MODEL_FILE));
      return {
        modelArtifactsInfo: {
          dateSaved: new Date(),
          modelTopologyType: 'JSON',
          modelTopologyBytes: JSON.stringify(artifacts.modelTopology ?? null).length,
          weightSpecsBytes: JSON.stringify(weightSpecs).length,
          weightDataBytes,
        },
      };
    },
  };
}

/** The `format` of read artifacts, inferred for old converter output that does not say. */
export function tfjsFormatOf(
  artifacts: io.ModelArtifacts,
  name: string,
): 'layers-model' | 'graph-model' {
  if (artifacts.format === 'layers-model' || artifacts.format === 'graph-model') {
    return artifacts.format;
  }
  const topology = artifacts.modelTopology as Record<string, unknown>;
  // A GraphDef has `node`; a Keras model config has `class_name`, wrapped or not.
  if (Array.isArray(topology.node)) {
    return 'graph-model';
  }
  if (typeof topology.class_name === 'string' || isObject(topology.model_config)) {
    return 'layers-model';
  }
  throw new LoaderError(
    `${name}: format ${JSON.stringify(artifacts.format ?? null)} is neither layers-model nor graph-model`,
  );
}
