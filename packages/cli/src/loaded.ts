import type { LoadedCheckpoint, Signature, Tensor } from '@determined-ts/sdk';

import type { CliIo } from './io.js';
import { printJson, printTable } from './output.js';

const SHOWN_TENSORS = 20;

interface TensorSummary {
  name: string;
  dtype: string;
  shape: readonly (number | null)[];
}

/** What `det checkpoint load` reports of a loaded checkpoint, whatever its kind. */
export interface LoadedSummary {
  kind: LoadedCheckpoint['kind'];
  format?: string;
  path: string;
  tensorCount: number;
  tensors: TensorSummary[];
  signatures?: Record<string, { inputs: TensorSummary[]; outputs: TensorSummary[] }>;
  inputs?: TensorSummary[];
  outputs?: TensorSummary[];
}

export function summarizeLoaded(loaded: LoadedCheckpoint): LoadedSummary {
  const base = { kind: loaded.kind, path: loaded.path };
  switch (loaded.kind) {
    case 'torch':
    case 'torchscript':
    case 'safetensors':
      return { ...base, ...tensorsOf(loaded.tensors) };
    case 'keras-h5':
      return { ...base, ...tensorsOf(loaded.weights) };
    case 'savedmodel':
      return {
        ...base,
        ...tensorsOf(loaded.variables),
        signatures: Object.fromEntries(
          Object.entries(loaded.signatures).map(([name, sig]) => [name, signatureOf(sig)]),
        ),
      };
    case 'onnx':
      return {
        ...base,
        tensorCount: 0,
        tensors: [],
        inputs: loaded.inputNames.map((name) => ({ name, dtype: '', shape: [] })),
        outputs: loaded.outputNames.map((name) => ({ name, dtype: '', shape: [] })),
      };
    case 'tfjs': {
      const weights =
        loaded.format === 'layers-model'
          ? loaded.model.weights.map((w) => ({ name: w.name, dtype: w.dtype, shape: w.shape }))
          : Object.entries(loaded.model.weights).flatMap(([name, tensors]) =>
              tensors.map((t) => ({ name, dtype: t.dtype, shape: t.shape })),
            );
      const io = (t: { name: string; dtype: string; shape?: readonly (number | null)[] }) => ({
        name: t.name,
        dtype: t.dtype,
        shape: t.shape ?? [],
      });
      return {
        ...base,
        format: loaded.format,
        tensorCount: weights.length,
        tensors: weights.slice(0, SHOWN_TENSORS),
        inputs: loaded.model.inputs.map(io),
        outputs: loaded.model.outputs.map(io),
      };
    }
  }
}

export function printLoaded(io: CliIo, summary: LoadedSummary, json: boolean): void {
  if (json) {
    printJson(io, summary);
    return;
  }
  io.stdout.write(
    `kind: ${summary.kind}${summary.format === undefined ? '' : ` (${summary.format})`}\n` +
      `path: ${summary.path}\n` +
      `tensors: ${summary.tensorCount}\n`,
  );
  if (summary.tensors.length > 0) {
    printTable(io, ['Tensor', 'DType', 'Shape'], summary.tensors.map(tensorRow));
    if (summary.tensorCount > summary.tensors.length) {
      io.stdout.write(`… and ${summary.tensorCount - summary.tensors.length} more\n`);
    }
  }
  for (const [name, sig] of Object.entries(summary.signatures ?? {})) {
    io.stdout.write(`signature ${name}:\n`);
    printTable(io, ['Input', 'DType', 'Shape'], sig.inputs.map(tensorRow));
    printTable(io, ['Output', 'DType', 'Shape'], sig.outputs.map(tensorRow));
  }
  if (summary.inputs !== undefined) {
    printTable(io, ['Input', 'DType', 'Shape'], summary.inputs.map(tensorRow));
  }
  if (summary.outputs !== undefined) {
    printTable(io, ['Output', 'DType', 'Shape'], summary.outputs.map(tensorRow));
  }
}

function tensorsOf(tensors: ReadonlyMap<string, Tensor>): {
  tensorCount: number;
  tensors: TensorSummary[];
} {
  const shown = [...tensors].slice(0, SHOWN_TENSORS);
  return {
    tensorCount: tensors.size,
    tensors: shown.map(([name, t]) => ({ name, dtype: t.dtype, shape: t.shape })),
  };
}

function signatureOf(sig: Signature): { inputs: TensorSummary[]; outputs: TensorSummary[] } {
  const side = (tensors: Signature['inputs']): TensorSummary[] =>
    Object.entries(tensors).map(([name, t]) => ({ name, dtype: t.dtype, shape: t.shape ?? [] }));
  return { inputs: side(sig.inputs), outputs: side(sig.outputs) };
}

function tensorRow(t: TensorSummary): unknown[] {
  return [t.name, t.dtype, `[${t.shape.map((d) => (d === null || d < 0 ? '?' : d)).join(', ')}]`];
}
