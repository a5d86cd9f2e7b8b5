import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { expect } from 'vitest';

import type { Tensor } from '../src/tensor.js';
import { DTYPE_BYTES, bfloat16ToFloat32, halfToFloat32 } from '../src/tensor.js';
import { TorchTensor } from '../src/torch/torch-tensor.js';

/** Our committed fixtures (scripts/fixtures/gen-torch.py). */
export const OWN_TORCH_FIXTURES = fileURLToPath(new URL('./fixtures/torch/', import.meta.url));
/** The reference fixtures beside the repository (`../shared`), absent in a plain clone. */
export const SHARED_TORCH_FIXTURES = path.resolve(
  fileURLToPath(new URL('../../../../shared/fixtures/torch/', import.meta.url)),
);

/** One tensor as torch reported it (`*.expected.json`). */
export interface ExpectedTensor {
  dtype: string;
  shape: number[];
  stride: number[];
  storage_offset: number;
  storage_numel?: number;
  /** Ours is `sha256`, the shared fixtures' `sha256_contiguous_le`. */
  sha256?: string;
  sha256_contiguous_le?: string;
  requires_grad?: boolean;
  is_parameter?: boolean;
  values?: (number | string | boolean | [number, number])[];
}

export interface ExpectedFile {
  tensors: Record<string, ExpectedTensor>;
  tensor_count?: number;
  classes?: string[];
}

export function readExpected(file: string): ExpectedFile {
  return JSON.parse(readFileSync(`${file}.expected.json`, 'utf8')) as ExpectedFile;
}

/** Asserts that a loaded tensor is exactly what torch reported. */
export function expectTensorMatches(name: string, tensor: Tensor, expected: ExpectedTensor): void {
  const label = `tensor ${name}`;
  expect(tensor.dtype, label).toBe(expected.dtype);
  expect(tensor.shape, label).toEqual(expected.shape);
  expect(tensor.strides, label).toEqual(expected.stride);
  expect(tensor.storageOffset, label).toBe(expected.storage_offset);
  if (expected.storage_numel !== undefined) {
    expect(tensor.storage.byteLength / DTYPE_BYTES[tensor.dtype], label).toBe(
      expected.storage_numel,
    );
  }
  const elements = tensor.toArray();
  const bytes = new Uint8Array(elements.buffer, elements.byteOffset, elements.byteLength);
  expect(createHash('sha256').update(bytes).digest('hex'), label).toBe(
    expected.sha256 ?? expected.sha256_contiguous_le,
  );
  if (tensor instanceof TorchTensor) {
    expect(tensor.requiresGrad, label).toBe(expected.requires_grad ?? false);
    expect(tensor.isParameter, label).toBe(expected.is_parameter ?? false);
  }
  if (expected.values !== undefined) {
    expect(comparableValues(tensor), label).toEqual(expected.values.map(normalizeExpected));
  }
}

/** The elements as JSON would hold them: numbers, non-finite and big ints as strings. */
function comparableValues(tensor: Tensor): unknown[] {
  const elements = tensor.toArray();
  switch (tensor.dtype) {
    case 'float16':
      return [...halfToFloat32(elements as Uint16Array)].map(normalizeNumber);
    case 'bfloat16':
      return [...bfloat16ToFloat32(elements as Uint16Array)].map(normalizeNumber);
    case 'bool':
      return [...(elements as Uint8Array)].map((byte) => byte !== 0);
    case 'complex64':
    case 'complex128': {
      const parts = [...(elements as Float32Array)].map(normalizeNumber);
      return parts.flatMap((part, i) => (i % 2 === 0 ? [[part, parts[i + 1]]] : []));
    }
    case 'int64':
    case 'uint64':
      return [...(elements as BigInt64Array)].map((value) =>
        value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER)
          ? Number(value)
          : String(value),
      );
    case 'float64':
    case 'float32':
    case 'int32':
    case 'int16':
    case 'int8':
    case 'uint32':
    case 'uint16':
    case 'uint8':
      return [...(elements as Float64Array)].map(normalizeNumber);
  }
}

function normalizeNumber(value: number): number | string {
  if (Number.isNaN(value)) {
    return 'nan';
  }
  if (!Number.isFinite(value)) {
    return value > 0 ? 'inf' : '-inf';
  }
  return value === 0 ? 0 : value;
}

function normalizeExpected(value: unknown): unknown {
  if (Array.isArray(value)) {
    return value.map(normalizeExpected);
  }
  return typeof value === 'number' ? normalizeNumber(value) : value;
}
