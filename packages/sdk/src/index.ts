export { Checkpoint } from './checkpoint.js';
export { downloadCheckpoint, downloadCheckpointIter } from './download/download.js';
export type { DownloadableCheckpoint } from './download/download.js';
export type {
  DownloadDoneEvent,
  DownloadEvent,
  DownloadFileEvent,
  DownloadMode,
  DownloadOptions,
  DownloadProgressEvent,
  DownloadStartEvent,
} from './download/events.js';
export { StorageUnreachableError } from './storage/backend.js';
export type {
  ReadOptions,
  StorageBackend,
  StorageEntry,
  StorageResolver,
  UnreachableReason,
} from './storage/backend.js';
export { LocalStorage } from './storage/local.js';
export { resolveDirectStorage } from './storage/resolve.js';
export { TrialReference } from './trial-reference.js';
export type { TrialReferenceOptions } from './trial-reference.js';
export { openSession } from './auth/session.js';
export type { SessionOptions } from './auth/session.js';
export { canonicalMasterUrl, resolveMasterUrl } from './auth/master-url.js';
export { init } from './core/init.js';
export type {
  CoreCloseOptions,
  CoreConfig,
  CoreContext,
  CoreInfo,
  CoreInitOptions,
  SearcherConfig,
} from './core/init.js';
export type { TrainContext } from './core/train.js';
export type {
  CheckpointContext,
  CheckpointMetadata,
  CheckpointUploadOptions,
} from './core/checkpoint.js';
export type { CheckpointStorageConfig } from './core/storage.js';
export type { CoreLogger } from './core/heartbeat.js';
export * from './client-entry.js';
