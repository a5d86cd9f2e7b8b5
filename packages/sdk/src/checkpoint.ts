import type { JsonObject } from '@determined-ts/api';

import type { Client } from './client.js';
import { downloadCheckpoint, downloadCheckpointIter } from './download/download.js';
import type { DownloadEvent, DownloadMode, DownloadOptions } from './download/events.js';
import { loadFromPath } from '@determined-ts/loaders';
import type { LoadFromPathOptions, LoadedCheckpoint } from '@determined-ts/loaders';
import type {
  CheckpointData,
  CheckpointState,
  CheckpointTraining,
  CheckpointValidation,
} from './models.js';

export interface CheckpointLoadOptions extends LoadFromPathOptions {
  /** How to download when the checkpoint is not there yet. @default 'auto' */
  mode?: DownloadMode;
}

/**
 * A checkpoint: the seed API's fields (`uuid`, `storageConfig`, `batchNumber`, `startTime`,
 * `endTime`, `resources`, `validation`) and the modern ones (`state`, `metadata`, `training`,
 * `reportTime`, `digests`, `crc32c`). Plain data plus the session it came from, which downloads use.
 */
export class Checkpoint implements CheckpointData {
  readonly uuid: string;
  readonly state: CheckpointState;
  readonly taskId: string;
  readonly allocationId: string | undefined;
  readonly reportTime: Date;
  readonly resources: Record<string, number>;
  readonly metadata: JsonObject;
  readonly training: CheckpointTraining | null;
  readonly storageId: number | undefined;
  readonly digests: Record<string, string>;
  readonly crc32c: Record<string, string>;
  readonly storageConfig: JsonObject;
  readonly batchNumber: number | undefined;
  readonly startTime: Date;
  readonly endTime: Date;
  readonly validation: CheckpointValidation | null;
  /** The session this checkpoint was fetched with; master-mode downloads use it. */
  readonly client: Client | undefined;

  constructor(data: CheckpointData, client?: Client) {
    this.uuid = data.uuid;
    this.state = data.state;
    this.taskId = data.taskId;
    this.allocationId = data.allocationId;
    this.reportTime = data.reportTime;
    this.resources = data.resources;
    this.metadata = data.metadata;
    this.training = data.training;
    this.storageId = data.storageId;
    this.digests = data.digests;
    this.crc32c = data.crc32c;
    this.storageConfig = data.storageConfig;
    this.batchNumber = data.batchNumber;
    this.startTime = data.startTime;
    this.endTime = data.endTime;
    this.validation = data.validation;
    this.client = client;
  }

  /**
   * Downloads the checkpoint's files into `path` (default `checkpoints/<uuid>`) and resolves to
   * the absolute target directory; `download({ mode })` works too. The target appears complete
   * or not at all, an existing complete copy is reused, and sizes and checksums are
   * checked. See `downloadCheckpoint` for every guarantee and error.
   *
   * @example
   * const dir = await checkpoint.download(undefined, { mode: 'auto' });
   */
  download(path?: string | DownloadOptions, options?: DownloadOptions): Promise<string> {
    return typeof path === 'object' && path !== null
      ? downloadCheckpoint(this, undefined, path)
      : downloadCheckpoint(this, path, options);
  }

  /**
   * {@link Checkpoint.download} as an async iterator of typed progress events: `start` (with
   * the totals, before the first byte), `progress`, `file`, then `done`. Leaving the loop early
   * aborts the download and removes what it wrote.
   */
  downloadIter(
    path?: string | DownloadOptions,
    options?: DownloadOptions,
  ): AsyncGenerator<DownloadEvent, void, undefined> {
    return typeof path === 'object' && path !== null
      ? downloadCheckpointIter(this, undefined, path)
      : downloadCheckpointIter(this, path, options);
  }

  /**
   * Downloads the checkpoint into `path` (default `checkpoints/<uuid>`) unless a complete copy
   * is already there, then loads it with {@link Checkpoint.loadFromPath}. `load({ tags })`
   * works too.
   *
   * @example
   * const loaded = await checkpoint.load();
   * if (loaded.kind === 'tfjs' && loaded.format === 'layers-model') {
   *   loaded.model.predict(x);
   * }
   */
  async load(
    path?: string | CheckpointLoadOptions,
    options: CheckpointLoadOptions = {},
  ): Promise<LoadedCheckpoint> {
    const [target, opts] =
      typeof path === 'object' && path !== null ? [undefined, path] : [path, options];
    const dir = await this.download(target, { mode: opts.mode, signal: opts.signal });
    return loadFromPath(dir, opts);
  }

  /**
   * Loads a checkpoint directory (or one file in it) into memory, dispatching on its
   * `metadata.json` and the files present; narrow the result by `kind`. See `loadFromPath` in
   * the loaders for the formats, options and errors.
   */
  static loadFromPath(path: string, options?: LoadFromPathOptions): Promise<LoadedCheckpoint> {
    return loadFromPath(path, options);
  }
}
