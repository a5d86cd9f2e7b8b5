// @determined-ts/storage: checkpoint storage backends and the one transfer engine that the SDK
// (downloads, Core API uploads) and the master (archives, deletes) share. Node only; the
// browser-safe part is `@determined-ts/storage/common`.
export {
  IntegrityError,
  ObjectChangedError,
  StorageConfigError,
  StorageError,
  StorageUnreachableError,
  TransientStorageError,
  abortReason,
  backoffMs,
} from './common.js';
export type {
  BodyOpener,
  ResponseHeaders,
  RetryPolicy,
  StreamedResponse,
  UnreachableReason,
} from './common.js';
export type {
  ByteRange,
  CheckpointStore,
  ObjectRead,
  ObjectReadOptions,
  PresignedRead,
  RootEntry,
  StoreResolver,
  StoredObject,
} from './backend.js';
export {
  STORAGE_TYPES,
  checkpointKeyPrefix,
  normalizePrefix,
  parseStorageConfig,
  parseStorageShortcut,
} from './config.js';
export type {
  AzureStorageConfig,
  DirectoryStorageConfig,
  GcsStorageConfig,
  S3StorageConfig,
  SharedFsStorageConfig,
  StorageConfig,
  StorageType,
} from './config.js';
export { RunningChecksums, crc32c, crc32cCombine, crc32cHex, isCrc32cHex } from './checksum.js';
export type { Checksums, HashAlgorithms } from './checksum.js';
export { errnoCode } from './errno.js';
export { openCheckpointStore } from './open.js';
export type { OpenStoreOptions } from './open.js';
export type { S3OpenOptions } from './s3/open-s3.js';
export type { S3Credentials } from './s3/s3-bucket.js';
export { LocalStore, localVersion } from './local/local-store.js';
export { openPresignedStore } from './presigned/presigned-store.js';
export type {
  PresignedListing,
  PresignedObject,
  PresignedSource,
  PresignedStoreOptions,
} from './presigned/presigned-store.js';
export {
  SHARED_FS_CONTAINER_PATH,
  localCandidates,
  openLocalStore,
  sharedFsSubdir,
} from './local/resolve.js';
export { checkRelativePath, parentDirs } from './paths.js';
export { buildManifest } from './transfer/manifest.js';
export type { Manifest, ManifestFile } from './transfer/manifest.js';
export { ProgressReporter } from './transfer/progress.js';
export type {
  TransferEvent,
  TransferFileEvent,
  TransferProgressEvent,
} from './transfer/progress.js';
export { DEFAULT_TUNING, fetchFiles, rangeBytesFor } from './transfer/fetch-files.js';
export type { FetchJob, TransferTuning } from './transfer/fetch-files.js';
export { fetchCheckpoint } from './transfer/fetch-checkpoint.js';
export type { CheckpointFetch } from './transfer/fetch-checkpoint.js';
export { Journal } from './transfer/journal.js';
export { DEFAULT_UPLOAD_TUNING, partBytesFor, uploadFiles } from './transfer/upload-files.js';
export type { UploadJob, UploadSource, UploadTuning } from './transfer/upload-files.js';
export type { ObjectWriter, PartsUpload } from './transfer/writer.js';
export { HashPool, isWorthAPool } from './transfer/hash-pool.js';
export { checkFile } from './transfer/file-checks.js';
export { isTransientFsError, sleep, withRetry } from './transfer/retry.js';
export { forEachInLanes } from './transfer/lanes.js';
export {
  JOURNAL_NAME,
  STALE_TEMP_AGE_MS,
  commitTarget,
  createTempSibling,
  findIncomplete,
  inspectTarget,
  pruneTemp,
  releaseTempSibling,
  removeQuietly,
  sweepStaleTempSiblings,
} from './transfer/target.js';
export type { TargetState, TempSiblingOptions } from './transfer/target.js';
export { IdleTimeout, StallError, raceAbort } from './http/idle-timeout.js';
export { openRawBody, rawBodyOpener } from './http/raw-body.js';
export { parseContentRange } from './http/response-parser.js';
export type { ContentRange } from './http/response-parser.js';
export { ArchiveUnpacking } from './archive/unpacker.js';
export { TarFormatError, TarTruncatedError } from './archive/tar-reader.js';
