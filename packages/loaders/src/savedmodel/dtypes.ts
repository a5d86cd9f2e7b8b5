import { DTYPES } from '../tensor.js';
import type { DType } from '../tensor.js';

/**
 * TensorFlow element types: the numeric ones spelled as our {@link DType}, the rest by
 * TensorFlow's own lower-case names; `unknown` for enum values this reader does not know.
 */
export type TfDType =
  | DType
  | 'string'
  | 'resource'
  | 'variant'
  | 'qint8'
  | 'quint8'
  | 'qint16'
  | 'quint16'
  | 'qint32'
  | 'invalid'
  | 'unknown';

/** TensorFlow's `DataType` enum (tensorflow/core/framework/types.proto), by number. */
const BY_ENUM: readonly TfDType[] = [
  'invalid',
  'float32',
  'float64',
  'int32',
  'uint8',
  'int16',
  'int8',
  'string',
  'complex64',
  'int64',
  'bool',
  'qint8',
  'quint8',
  'qint32',
  'bfloat16',
  'qint16',
  'quint16',
  'uint16',
  'complex128',
  'float16',
  'resource',
  'variant',
  'uint32',
  'uint64',
];

/** Graph-mode reference types are the base type plus this; a signature may name them. */
const REF_OFFSET = 100;

export function tfDType(value: number): TfDType {
  const base = value > REF_OFFSET ? value - REF_OFFSET : value;
  return BY_ENUM[base] ?? 'unknown';
}

export function isNumeric(dtype: TfDType): dtype is DType {
  return (DTYPES as readonly string[]).includes(dtype);
}
