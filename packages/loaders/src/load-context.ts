import type { JsonObject } from '@determined-ts/api';

import type { ModuleImporter } from './runtime.js';
import type { TensorMode } from './types.js';

/** What every format loader gets from the dispatcher. */
export interface LoadContext {
  /** The absolute checkpoint directory; files are named relative to it. */
  readonly path: string;
  /** `metadata.json`, or `{}`. */
  readonly metadata: JsonObject;
  readonly tensors: TensorMode;
  readonly signal: AbortSignal | undefined;
  /** Imports the optional runtimes (tests pass one that finds none). */
  readonly importModule: ModuleImporter;
}
