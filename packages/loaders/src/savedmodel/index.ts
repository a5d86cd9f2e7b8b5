import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

import type { JsonObject } from '@determined-ts/api';

import { LoaderError } from '../errors.js';
import { describeError } from '../file-storage.js';
import type { TensorMap, TensorMode } from '../types.js';
import { tfDType } from './dtypes.js';
import type { TfDType } from './dtypes.js';
import { decodeSavedModel } from './proto.js';
import type { MetaGraphMessage, SignatureMessage, TensorInfoMessage } from './proto.js';
import { readTensorBundle } from './tensor-bundle.js';
import type { OpaqueVariable } from './tensor-bundle.js';

export type { TfDType } from './dtypes.js';
export type { OpaqueVariable } from './tensor-bundle.js';

/** One input or output of a signature. */
export interface SignatureTensor {
  /** The graph tensor it binds to (`x:0`); for a sparse tensor, its values tensor; else ''. */
  readonly name: string;
  readonly dtype: TfDType;
  /** Dimensions, -1 where unknown; `null` when even the rank is unknown. */
  readonly shape: readonly number[] | null;
}

/** A SignatureDef: how a serving system calls the graph. */
export interface Signature {
  /** `tensorflow/serving/predict`, `…/regress`, `…/classify`, or empty in newer SavedModels. */
  readonly methodName: string;
  /** Keyed by the names callers use. */
  readonly inputs: Readonly<Record<string, SignatureTensor>>;
  readonly outputs: Readonly<Record<string, SignatureTensor>>;
}

/**
 * A TensorFlow SavedModel, read without TensorFlow: the MetaGraph whose tag set equals the
 * requested one, its signatures, and the variables' values (each checked against its
 * CRC-32C). It **cannot be run in Node** (`runnable: false`): the graph needs TensorFlow's
 * kernels. Serve it with TensorFlow Serving, or convert it for TF.js with
 * `tensorflowjs_converter --input_format=tf_saved_model` and load the result.
 */
export interface SavedModelContents {
  readonly kind: 'savedmodel';
  readonly runnable: false;
  /** The tag set of the MetaGraph read, as stored. */
  readonly tags: readonly string[];
  /** The tag set of every MetaGraph in the file. */
  readonly availableTagSets: readonly (readonly string[])[];
  /** The TensorFlow version that wrote the MetaGraph, when recorded (e.g. `2.14.0`). */
  readonly tensorflowVersion: string | undefined;
  /** Its git description (e.g. `v2.0.0-rc2-26-g64c3d388`), when recorded. */
  readonly tensorflowGitVersion: string | undefined;
  /** SignatureDefs by key (`serving_default`, …). */
  readonly signatures: Readonly<Record<string, Signature>>;
  /** Numeric variables by checkpoint key (`dense/kernel`, `v/.ATTRIBUTES/VARIABLE_VALUE`). */
  readonly variables: TensorMap;
  /**
   * Variables with no numeric tensor, by key: strings (e.g. TF2's
   * `_CHECKPOINTABLE_OBJECT_GRAPH`), resources, quantized and partitioned variables.
   */
  readonly opaqueVariables: ReadonlyMap<string, OpaqueVariable>;
}

/** A SavedModel checkpoint as `Checkpoint.loadFromPath` returns it. */
export interface SavedModelCheckpoint extends SavedModelContents {
  /** The checkpoint directory. */
  readonly path: string;
  /** `metadata.json` of the checkpoint, or `{}` when it has none. */
  readonly metadata: JsonObject;
}

export interface ReadSavedModelOptions {
  /** The exact tag set of the MetaGraph to read, in any order. @default ['serve'] */
  tags?: readonly string[];
  /** @default 'eager' */
  tensors?: TensorMode;
  signal?: AbortSignal;
}

/**
 * Reads the SavedModel in `dir` (`saved_model.pb` and `variables/`). The MetaGraph is the
 * one whose tag set equals `tags` as a set, as TensorFlow's loader picks it; none is a
 * `LoaderError` listing the tag sets there are. A SavedModel without a `variables/` folder has
 * no variables. Malformed files, and variable bytes that fail their checksum, are
 * `LoaderError`s naming the file and the variable.
 */
export async function readSavedModel(
  dir: string,
  { tags = ['serve'], tensors = 'eager', signal }: ReadSavedModelOptions = {},
): Promise<SavedModelContents> {
  const pbPath = join(dir, 'saved_model.pb');
  let pbBytes: Uint8Array;
  try {
    pbBytes = await readFile(pbPath);
  } catch (err: unknown) {
    const hint = existsSync(join(dir, 'saved_model.pbtxt'))
      ? ' (the text format saved_model.pbtxt is not supported)'
      : '';
    throw new LoaderError(`${pbPath}: cannot read (${describeError(err)})${hint}`, { cause: err });
  }
  const model = decodeSavedModel(pbBytes, pbPath);
  const availableTagSets = model.meta_graphs.map((graph) => graph.meta_info_def?.tags ?? []);
  const metaGraph = model.meta_graphs.find((graph) =>
    sameSet(graph.meta_info_def?.tags ?? [], tags),
  );
  if (metaGraph === undefined) {
    throw new LoaderError(
      `${pbPath}: no MetaGraph has the tag set ${formatTags(tags)}; available tag sets: ` +
        (availableTagSets.length === 0 ? 'none' : availableTagSets.map(formatTags).join(', ')),
    );
  }
  const bundle = existsSync(join(dir, 'variables', 'variables.index'))
    ? await readTensorBundle(join(dir, 'variables', 'variables'), { tensors, signal })
    : { tensors: new Map(), opaque: new Map() };
  const info = metaGraph.meta_info_def;
  return {
    kind: 'savedmodel',
    runnable: false,
    tags: info?.tags ?? [],
    availableTagSets,
    tensorflowVersion: info?.tensorflow_version || undefined,
    tensorflowGitVersion: info?.tensorflow_git_version || undefined,
    signatures: signaturesOf(metaGraph),
    variables: bundle.tensors,
    opaqueVariables: bundle.opaque,
  };
}

function sameSet(stored: readonly string[], wanted: readonly string[]): boolean {
  const a = new Set(stored);
  const b = new Set(wanted);
  return a.size === b.size && [...a].every((tag) => b.has(tag));
}

function formatTags(tags: readonly string[]): string {
  return `[${tags.join(', ')}]`;
}

function signaturesOf(graph: MetaGraphMessage): Record<string, Signature> {
  return Object.fromEntries(
    Object.entries(graph.signature_def).map(([key, signature]: [string, SignatureMessage]) => [
      key,
      {
        methodName: signature.method_name,
        inputs: tensorsOf(signature.inputs),
        outputs: tensorsOf(signature.outputs),
      },
    ]),
  );
}

function tensorsOf(infos: Record<string, TensorInfoMessage>): Record<string, SignatureTensor> {
  return Object.fromEntries(
    Object.entries(infos).map(([key, info]) => [
      key,
      {
        name: info.name || (info.coo_sparse?.values_tensor_name ?? ''),
        dtype: tfDType(info.dtype),
        shape:
          info.tensor_shape === null || info.tensor_shape.unknown_rank
            ? null
            : info.tensor_shape.dim.map((d) => (d.size < 0 ? -1 : d.size)),
      },
    ]),
  );
}
