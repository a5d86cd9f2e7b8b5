import type { JsonObject } from '@determined-ts/api';
import type { GraphModel, LayersModel } from '@tensorflow/tfjs';
import type { InferenceSession } from 'onnxruntime-node';

import type { SavedModelCheckpoint } from './savedmodel/index.js';
import type { Tensor } from './tensor.js';

/**
 * How tensor bytes are read. `eager` (the default) reads every storage before returning;
 * `lazy` reads a storage on the first `tensor.load()`; `index` reads names, dtypes and shapes
 * only (`tensor.load()` still works later).
 */
export type TensorMode = 'eager' | 'lazy' | 'index';

export interface LoadFromPathOptions {
  /** SavedModel: the exact tag set of the MetaGraph to load. @default ['serve'] */
  tags?: readonly string[];
  tensors?: TensorMode;
  signal?: AbortSignal;
}

/** Named tensors, in the order the file lists them. */
export type TensorMap = ReadonlyMap<string, Tensor>;

export interface LoadedBase {
  /** The checkpoint directory. */
  readonly path: string;
  /** `metadata.json` of the checkpoint, or `{}` when it has none. */
  readonly metadata: JsonObject;
}

/** A value a restricted unpickler produced; see `loaders/torch/pickle-values.ts`. */
export type PickleValue = unknown;

/** A PyTorch `torch.save` file (zip or legacy format), read without Python. */
export interface TorchCheckpoint extends LoadedBase {
  readonly kind: 'torch';
  /** The file read, relative to `path`. */
  readonly file: string;
  readonly format: 'zip' | 'legacy';
  /**
   * `determined`: Determined's PyTorchTrial `state_dict.pth` (`models_state_dict`, …);
   * `seed`: the seed era's `model.pth`; `plain`: any other `torch.save` output.
   */
  readonly layout: 'determined' | 'seed' | 'plain';
  /** The unpickled object: dicts as `Map`, tensors as `Tensor`, unknown classes as inert objects. */
  readonly root: PickleValue;
  /** Every tensor reachable from `root`, by dotted path (`models_state_dict.0.fc1.weight`). */
  readonly tensors: TensorMap;
}

/** A TorchScript archive: its tensors and its class names; the code is not run. */
export interface TorchScriptCheckpoint extends LoadedBase {
  readonly kind: 'torchscript';
  readonly file: string;
  readonly tensors: TensorMap;
  /** Qualified names of the scripted classes (`__torch__.MLP`, …). */
  readonly classes: readonly string[];
}

export interface SafetensorsCheckpoint extends LoadedBase {
  readonly kind: 'safetensors';
  readonly files: readonly string[];
  readonly tensors: TensorMap;
  /** The header's `__metadata__` (string to string). */
  readonly headerMetadata: Readonly<Record<string, string>>;
}

/** An ONNX model as a runnable `onnxruntime-node` session (external data files included). */
export interface OnnxCheckpoint extends LoadedBase {
  readonly kind: 'onnx';
  /** The `.onnx` file, relative to `path`. */
  readonly file: string;
  readonly session: InferenceSession;
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
}

interface TfjsCheckpointBase extends LoadedBase {
  readonly kind: 'tfjs';
  /** The `model.json`, relative to `path`. */
  readonly file: string;
}

/** A TF.js layers model (Keras-style): `model.predict(x)`. */
export interface TfjsLayersCheckpoint extends TfjsCheckpointBase {
  readonly format: 'layers-model';
  readonly model: LayersModel;
}

/** A TF.js graph model (converter output of a SavedModel/frozen graph): `model.execute(x)`. */
export interface TfjsGraphCheckpoint extends TfjsCheckpointBase {
  readonly format: 'graph-model';
  readonly model: GraphModel;
}

/** A TF.js model (`model.json` + weight shards) run by `@tensorflow/tfjs`; narrow by `format`. */
export type TfjsCheckpoint = TfjsLayersCheckpoint | TfjsGraphCheckpoint;

/**
 * A Keras `.h5` file (Keras 2 layout): its config and weights, and the model rebuilt with
 * `@tensorflow/tfjs` when tfjs is installed and supports every layer.
 */
export interface KerasH5Checkpoint extends LoadedBase {
  readonly kind: 'keras-h5';
  readonly file: string;
  /** The root attribute `model_config`, parsed (`{ class_name, config }`); `undefined` for a weights-only file. */
  readonly config: JsonObject | undefined;
  readonly kerasVersion: string | undefined;
  readonly backend: string | undefined;
  /**
   * Every weight by its Keras name (`dense/kernel:0`), in the file's layer order. `model`'s
   * float32 variables share these buffers (no second copy): treat them as read-only.
   */
  readonly weights: TensorMap;
  /** The model with the file's weights, or `undefined` when it cannot be built (see below). */
  readonly model: LayersModel | undefined;
  /** Why `model` is `undefined`: tfjs not installed, a layer tfjs lacks, mismatched weights. */
  readonly notRunnableReason?: string;
}

/** What `loadFromPath` returns: narrow it by `kind`. */
export type LoadedCheckpoint =
  | TorchCheckpoint
  | TorchScriptCheckpoint
  | SafetensorsCheckpoint
  | SavedModelCheckpoint
  | OnnxCheckpoint
  | TfjsCheckpoint
  | KerasH5Checkpoint;

/** The `kind`s of {@link LoadedCheckpoint}. */
export type LoadedKind = LoadedCheckpoint['kind'];
