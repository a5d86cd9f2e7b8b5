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
export {
  LocalStore,
  ObjectChangedError,
  StorageConfigError,
  StorageUnreachableError,
  TransientStorageError,
  openCheckpointStore,
} from '@determined-ts/storage';
export type {
  CheckpointStore,
  ObjectRead,
  ObjectReadOptions,
  StoreResolver,
  StoredObject,
  UnreachableReason,
} from '@determined-ts/storage';
export { Determined } from './determined.js';
export type { DeterminedOptions } from './determined.js';
export { Model } from './model.js';
export type { ListVersionsOptions } from './model.js';
export { ModelVersion } from './model-version.js';
export type { SourceTrialMetrics } from './api/models.js';
export { TrialReference } from './trial-reference.js';
export type { TrialReferenceOptions } from './trial-reference.js';
export { openSession } from './auth/session.js';
export type { SessionOptions } from './auth/session.js';
export { canonicalMasterUrl, resolveMasterUrl } from './auth/master-url.js';
export { determinedConfigDir } from './auth/config-path.js';
export { TokenStore } from './auth/token-store.js';
export type { TokenStoreLoadOptions } from './auth/token-store.js';
export { init } from './core/init.js';
export type { CoreConfig, CoreInitOptions, SearcherConfig } from './core/init.js';
export type { CoreCloseOptions, CoreContext, CoreInfo } from './core/context.js';
export { LOG_LEVELS } from './core/log-shipper.js';
export type { LogLevel } from './core/log-shipper.js';
export type { TeeableStream } from './core/output-tee.js';
export type { TrainContext } from './core/train.js';
export type {
  CheckpointContext,
  CheckpointMetadata,
  CheckpointUploadOptions,
} from './core/checkpoint.js';
export type { CheckpointStorageConfig } from './core/storage.js';
export type { CoreLogger } from './core/heartbeat.js';
// The readers live in @determined-ts/loaders, usable without a master; the SDK re-exports them.
export * from '@determined-ts/loaders';
export * from './client-entry.js';
