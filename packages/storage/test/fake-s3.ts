// A small in-memory S3 for correctness tests, strict where s3rver 3.7.1 is not (If-Match, suffix
// ranges, checksum headers, `-N` multipart ETags, truncated ListObjectsV2, aws-chunked refusal,
// SigV4 signatures of requests and presigned URLs), with fault injection for the transfer
// engine. See fake-s3/server.ts for the handle.
export { startFakeS3 } from './fake-s3/server.js';
export type { FakeS3, FakeS3Options } from './fake-s3/server.js';
export type { FakeS3Fault, FakeS3Request, FaultStatus } from './fake-s3/faults.js';
export type { ChecksumType, FakeS3Checksum, FakeS3Object, FakeS3Part } from './fake-s3/store.js';
export { resolveRange } from './fake-s3/objects.js';
export type { ByteRange } from './fake-s3/objects.js';
