/** A checkpoint file could not be read: malformed, truncated, or refused (e.g. unsafe pickle). */
export class LoaderError extends Error {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, options);
    this.name = 'LoaderError';
  }
}

/** Nothing in the directory is a format we load; the message lists what was found. */
export class UnsupportedFormatError extends LoaderError {
  /** Files found (checkpoint-relative), for callers that want to show them. */
  readonly found: readonly string[];

  constructor(message: string, found: readonly string[]) {
    super(message);
    this.name = 'UnsupportedFormatError';
    this.found = found;
  }
}

/**
 * Several loadable files were found and neither `metadata.json` nor the known file names
 * decide between them; the message lists them. Pass one file's path to choose.
 */
export class AmbiguousFormatError extends LoaderError {
  /** The candidates (checkpoint-relative), for callers that want to show them. */
  readonly candidates: readonly string[];

  constructor(message: string, candidates: readonly string[]) {
    super(message);
    this.name = 'AmbiguousFormatError';
    this.candidates = candidates;
  }
}

/** An optional runtime (onnxruntime-node, @tensorflow/tfjs, h5wasm) is not installed. */
export class MissingRuntimeError extends LoaderError {
  readonly packageName: string;

  constructor(packageName: string, purpose: string, options: { cause?: unknown } = {}) {
    super(
      `${purpose} needs the optional package ${packageName}: install it with \`npm install ${packageName}\``,
      options,
    );
    this.name = 'MissingRuntimeError';
    this.packageName = packageName;
  }
}
