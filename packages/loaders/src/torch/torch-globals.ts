import { LoaderError } from '../errors.js';
import type { DType } from '../tensor.js';
import { PickleCallable, PickleObject } from './pickle-values.js';
import type { PickleComplex, PickleSlice, PickleValue } from './pickle-values.js';
import { StorageRef, StorageType, TorchTensor } from './torch-tensor.js';

/** torch's storage classes and the element type of each. */
const STORAGE_TYPES: Readonly<Record<string, DType>> = {
  'torch.DoubleStorage': 'float64',
  'torch.FloatStorage': 'float32',
  'torch.HalfStorage': 'float16',
  'torch.BFloat16Storage': 'bfloat16',
  'torch.LongStorage': 'int64',
  'torch.IntStorage': 'int32',
  'torch.ShortStorage': 'int16',
  'torch.CharStorage': 'int8',
  'torch.ByteStorage': 'uint8',
  'torch.BoolStorage': 'bool',
  'torch.ComplexFloatStorage': 'complex64',
  'torch.ComplexDoubleStorage': 'complex128',
  // A bare untyped storage counts bytes.
  'torch.storage.UntypedStorage': 'uint8',
};

/** `torch.<dtype>` globals (a dtype pickles as its name) and the DType each is. */
const TORCH_DTYPES: readonly DType[] = [
  'float64',
  'float32',
  'float16',
  'bfloat16',
  'int64',
  'int32',
  'int16',
  'int8',
  'uint8',
  'bool',
  'complex64',
  'complex128',
];

/** numpy dtype codes of scalars we decode (`numpy.float64(0.5)` in a training state). */
const NUMPY_SCALARS: Readonly<Record<string, (view: DataView) => PickleValue>> = {
  f8: (v) => v.getFloat64(0, true),
  f4: (v) => v.getFloat32(0, true),
  i8: (v) => toSafe(v.getBigInt64(0, true)),
  i4: (v) => v.getInt32(0, true),
  i2: (v) => v.getInt16(0, true),
  i1: (v) => v.getInt8(0),
  u8: (v) => toSafe(v.getBigUint64(0, true)),
  u4: (v) => v.getUint32(0, true),
  u2: (v) => v.getUint16(0, true),
  u1: (v) => v.getUint8(0),
  b1: (v) => v.getUint8(0) !== 0,
};

function rebuildTensor(args: readonly PickleValue[], requiresGrad: boolean): TorchTensor {
  const ref = args[0];
  if (!(ref instanceof StorageRef)) {
    throw new LoaderError(`a tensor's storage is not a storage persistent id`);
  }
  return new TorchTensor(
    {
      dtype: ref.dtype,
      shape: intList(args[2], 'size'),
      strides: intList(args[3], 'stride'),
      storageOffset: int(args[1], 'storage offset'),
      storage: ref.storage,
    },
    { requiresGrad, isParameter: false },
  );
}

function rebuildParameter(args: readonly PickleValue[]): PickleValue {
  const [data, requiresGrad] = args;
  if (!(data instanceof TorchTensor)) {
    throw new LoaderError('a parameter whose data is not a tensor');
  }
  return data.asParameter(requiresGrad === true);
}

/** `_rebuild_from_type_v2(func, new_type, args, state)`: a tensor subclass; we keep the tensor. */
function rebuildFromType(args: readonly PickleValue[]): PickleValue {
  const [func, , funcArgs] = args;
  if (func instanceof PickleCallable && Array.isArray(funcArgs)) {
    return func.call(funcArgs as PickleValue[]);
  }
  return new PickleObject('torch._tensor._rebuild_from_type_v2', args);
}

function mapOf(args: readonly PickleValue[]): Map<PickleValue, PickleValue> {
  const map = new Map<PickleValue, PickleValue>();
  const [pairs] = args;
  if (Array.isArray(pairs)) {
    for (const pair of pairs as PickleValue[]) {
      if (Array.isArray(pair) && pair.length === 2) {
        map.set(pair[0], pair[1]);
      }
    }
  }
  return map;
}

function setOf(args: readonly PickleValue[]): Set<PickleValue> {
  const [items] = args;
  return new Set(Array.isArray(items) ? (items as PickleValue[]) : []);
}

/** Protocol 2 writes bytes as `_codecs.encode(text, 'latin1')`, bytearray as `bytearray(text, 'latin-1')`. */
function latin1Bytes(name: string): PickleCallable {
  return new PickleCallable(name, (args) => {
    const [text, encoding] = args;
    if (args.length === 0) {
      return new Uint8Array(0);
    }
    if (text instanceof Uint8Array) {
      return text.slice();
    }
    if (typeof text === 'string' && (encoding === 'latin1' || encoding === 'latin-1')) {
      return new Uint8Array(Buffer.from(text, 'latin1'));
    }
    return new PickleObject(name, args);
  });
}

function device(args: readonly PickleValue[]): string {
  const [type, index] = args;
  if (typeof type !== 'string') {
    throw new LoaderError('torch.device without a device type');
  }
  return typeof index === 'number' ? `${type}:${index}` : type;
}

/** `numpy.core.multiarray.scalar(dtype, bytes)` for little-endian numbers and bools. */
function numpyScalar(args: readonly PickleValue[]): PickleValue {
  const [dtype, bytes] = args;
  if (dtype instanceof PickleObject && bytes instanceof Uint8Array) {
    const [code] = dtype.args;
    const decode = typeof code === 'string' ? NUMPY_SCALARS[code] : undefined;
    const byteOrder = Array.isArray(dtype.state) ? (dtype.state as PickleValue[])[1] : undefined;
    const size = typeof code === 'string' ? Number(code.slice(1)) : 0;
    if (decode !== undefined && byteOrder !== '>' && bytes.byteLength === size) {
      return decode(new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    }
  }
  return new PickleObject('numpy.core.multiarray.scalar', args);
}

function toSafe(value: bigint): number | bigint {
  return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER)
    ? Number(value)
    : value;
}

function int(value: PickleValue, what: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new LoaderError(`a tensor's ${what} is not a non-negative integer`);
  }
  return value;
}

function intList(value: PickleValue, what: string): number[] {
  if (!Array.isArray(value)) {
    throw new LoaderError(`a tensor's ${what} is not a tuple`);
  }
  for (const item of value as PickleValue[]) {
    int(item, what);
  }
  return value as number[];
}

function firstArg(args: readonly PickleValue[]): PickleValue {
  return args[0];
}

function callables(
  entries: Record<string, (args: readonly PickleValue[]) => PickleValue>,
): [string, PickleValue][] {
  return Object.entries(entries).map(([name, call]) => [name, new PickleCallable(name, call)]);
}

/**
 * The allow-list: the only globals a torch pickle can use to build something. Everything not
 * here stays inert (see `PickleGlobal`), so nothing from the file is ever run.
 */
const TORCH_GLOBALS: ReadonlyMap<string, PickleValue> = new Map<string, PickleValue>([
  ...callables({
    'torch._utils._rebuild_tensor_v2': (args) => rebuildTensor(args, args[4] === true),
    'torch._utils._rebuild_tensor': (args) => rebuildTensor(args, false),
    'torch._utils._rebuild_parameter': rebuildParameter,
    'torch._utils._rebuild_parameter_with_state': rebuildParameter,
    'torch._tensor._rebuild_from_type_v2': rebuildFromType,
    'torch._utils._rebuild_from_type': rebuildFromType,
    'torch.device': device,
    'torch.Size': (args) => intList(args[0] ?? [], 'size'),
    'collections.OrderedDict': mapOf,
    'collections.defaultdict': () => new Map(),
    'builtins.set': setOf,
    'builtins.frozenset': setOf,
    'builtins.complex': ([real, imag]): PickleComplex => ({
      real: typeof real === 'number' ? real : 0,
      imag: typeof imag === 'number' ? imag : 0,
    }),
    'builtins.slice': ([start, stop, step]): PickleSlice => ({
      start: start ?? null,
      stop: stop ?? null,
      step: step ?? null,
    }),
    'numpy.core.multiarray.scalar': numpyScalar,
    'numpy._core.multiarray.scalar': numpyScalar,
    // TorchScript's data.pkl wraps typed lists and tags; the value is the first argument.
    'torch.jit._pickle.build_intlist': firstArg,
    'torch.jit._pickle.build_doublelist': firstArg,
    'torch.jit._pickle.build_boollist': firstArg,
    'torch.jit._pickle.build_tensorlist': firstArg,
    'torch.jit._pickle.restore_type_tag': firstArg,
  }),
  ['_codecs.encode', latin1Bytes('_codecs.encode')],
  ['builtins.bytes', latin1Bytes('builtins.bytes')],
  ['builtins.bytearray', latin1Bytes('builtins.bytearray')],
  ...Object.entries(STORAGE_TYPES).map(([name, dtype]): [string, PickleValue] => [
    name,
    new StorageType(name, dtype),
  ]),
  ...TORCH_DTYPES.map((dtype): [string, PickleValue] => [`torch.${dtype}`, dtype]),
]);

/** The allow-listed value for `module.Name`, or `undefined` (the unpickler keeps it inert). */
export function resolveTorchGlobal(qualifiedName: string): PickleValue {
  return TORCH_GLOBALS.get(qualifiedName);
}
