import type { JsonObject } from '@determined-ts/api';

import type { Candidate, CandidateKind } from './candidates.js';
import { KIND_LABELS } from './candidates.js';
import { AmbiguousFormatError, UnsupportedFormatError } from './errors.js';

/** metadata.json `format` values (Determined's and ours) and the kinds they mean. */
const KINDS_BY_FORMAT: Readonly<Record<string, readonly CandidateKind[]>> = {
  pickle: ['torch'],
  torch: ['torch'],
  torchscript: ['torch'],
  safetensors: ['safetensors'],
  onnx: ['onnx'],
  saved_model: ['savedmodel'],
  savedmodel: ['savedmodel'],
  h5: ['keras-h5'],
  hdf5: ['keras-h5'],
  keras: ['keras-h5'],
  tfjs: ['tfjs'],
  'layers-model': ['tfjs'],
  'graph-model': ['tfjs'],
};

/** Known file names, most wanted first: Determined's PyTorchTrial, then the seed era's. */
const KNOWN_NAMES = ['state_dict.pth', 'model.pth'];

/** How many files a message lists before it says "and N more". */
const LISTED_FILES = 20;

function text(value: unknown): string {
  return typeof value === 'string' ? value.toLowerCase() : '';
}

/**
 * The kinds `metadata.json` points at: its `format`, else its `framework` (`torch-1.13.1`,
 * `tensorflow-2.11`, `tfjs`, …), else the seed era's `torch_version` / `tensorflow_version`.
 * Empty when it says nothing.
 */
export function kindsFromMetadata(metadata: JsonObject): readonly CandidateKind[] {
  const format = text(metadata.format);
  const framework = text(metadata.framework);
  const byFormat = KINDS_BY_FORMAT[format];
  if (byFormat !== undefined) {
    return byFormat;
  }
  if (
    framework.startsWith('torch') ||
    framework.startsWith('pytorch') ||
    'torch_version' in metadata
  ) {
    return ['torch', 'safetensors'];
  }
  // Before 'tensorflow': 'tensorflowjs' starts with it too.
  if (framework.startsWith('tfjs') || framework.startsWith('tensorflowjs')) {
    return ['tfjs'];
  }
  if (
    framework.startsWith('tensorflow') ||
    framework.startsWith('keras') ||
    'tensorflow_version' in metadata
  ) {
    return ['savedmodel', 'keras-h5'];
  }
  return framework.startsWith('onnx') ? ['onnx'] : [];
}

/** How a candidate is named in messages. */
function describeCandidate(candidate: Candidate): string {
  const where = candidate.file === '' ? '.' : candidate.file;
  const shards = candidate.files === undefined ? '' : `, ${candidate.files.length} file(s)`;
  return `${where} (${candidate.kind}${shards})`;
}

/** The directory a candidate lies in, `''` at the top. */
function locationOf(candidate: Candidate): string {
  const isDirectory = candidate.kind === 'savedmodel' || candidate.files !== undefined;
  const at = isDirectory
    ? candidate.file
    : candidate.file.slice(0, candidate.file.lastIndexOf('/') + 1);
  return at.replace(/\/$/, '');
}

function listFiles(files: readonly string[]): string {
  if (files.length === 0) {
    return 'nothing (empty directory)';
  }
  const shown = files.slice(0, LISTED_FILES).join(', ');
  return files.length > LISTED_FILES ? `${shown} and ${files.length - LISTED_FILES} more` : shown;
}

export function unsupportedFormat(where: string, files: readonly string[]): UnsupportedFormatError {
  return new UnsupportedFormatError(
    `${where}: no checkpoint format we load. Found: ${listFiles(files)}. ` +
      `Supported: ${Object.values(KIND_LABELS).join('; ')}.`,
    files,
  );
}

/**
 * Picks the candidate to load: the only one; else those `metadata.json` points at; else those
 * at the top of the checkpoint; else a known name (`state_dict.pth`, then `model.pth`). Still
 * more than one is an {@link AmbiguousFormatError}; none an {@link UnsupportedFormatError}.
 */
export function selectCandidate(
  where: string,
  candidates: readonly Candidate[],
  metadata: JsonObject,
  files: readonly string[],
): Candidate {
  let pool = candidates;
  const narrow = (keep: (c: Candidate) => boolean): void => {
    const kept = pool.filter(keep);
    pool = kept.length > 0 ? kept : pool;
  };
  const preferred = kindsFromMetadata(metadata);
  narrow((c) => preferred.includes(c.kind));
  narrow((c) => locationOf(c) === '');
  for (const name of KNOWN_NAMES) {
    if (pool.length > 1) {
      narrow((c) => c.kind === 'torch' && c.file.split('/').pop() === name);
    }
  }
  const [only, ...others] = pool;
  if (only === undefined) {
    throw unsupportedFormat(where, files);
  }
  if (others.length > 0) {
    const names = pool.map(describeCandidate);
    throw new AmbiguousFormatError(
      `${where}: several checkpoints found and metadata.json does not say which: ` +
        `${names.join(', ')}. Pass the path of the one to load.`,
      pool.map((c) => c.file),
    );
  }
  return only;
}
