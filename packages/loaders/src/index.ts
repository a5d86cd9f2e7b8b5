/**
 * Checkpoint readers for Node without Python: PyTorch (zip and legacy pickles, TorchScript),
 * safetensors, TensorFlow SavedModel, ONNX, TF.js and Keras HDF5. `loadFromPath` picks the format
 * from what lies at a path and reads it; no master is involved.
 */
export { loadFromPath } from './dispatch.js';
export {
  AmbiguousFormatError,
  LoaderError,
  MissingRuntimeError,
  UnsupportedFormatError,
} from './errors.js';
export {
  DTYPES,
  DTYPE_BYTES,
  Tensor,
  bfloat16ToFloat32,
  contiguousStrides,
  halfToFloat32,
} from './tensor.js';
export type { DType, TensorArray, TensorStorage, TypedArrayByDType } from './tensor.js';
export {
  TFJS_MODEL_FILE,
  TFJS_WEIGHTS_FILE,
  tfjsDirLoadHandler,
  tfjsDirSaveHandler,
} from './tfjs-io.js';
export { PickleCallable, PickleGlobal, PickleObject } from './torch/pickle-values.js';
export type { PickleComplex, PickleSlice } from './torch/pickle-values.js';
export type {
  OpaqueVariable,
  SavedModelCheckpoint,
  Signature,
  SignatureTensor,
  TfDType,
} from './savedmodel/index.js';
export type {
  KerasH5Checkpoint,
  LoadFromPathOptions,
  LoadedCheckpoint,
  LoadedKind,
  OnnxCheckpoint,
  PickleValue,
  SafetensorsCheckpoint,
  TensorMap,
  TensorMode,
  TfjsCheckpoint,
  TfjsGraphCheckpoint,
  TfjsLayersCheckpoint,
  TorchCheckpoint,
  TorchScriptCheckpoint,
} from './types.js';
