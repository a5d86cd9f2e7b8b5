import {
  ObjectChangedError,
  StorageError,
  StorageUnreachableError,
  TransientStorageError,
} from '../errors.js';

/** S3 error codes that mean "slow down": retried with fewer connections. */
const THROTTLING_CODES = new Set([
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'RequestLimitExceeded',
  'TooManyRequests',
]);
/**
 * S3 error codes that mean the bytes arrived other than they were sent (a checksum the store
 * computed differs): the body was corrupted on the way, so sending it again may well succeed.
 */
const CORRUPTED_CODES = new Set([
  'BadDigest',
  'InvalidDigest',
  'XAmzContentSHA256Mismatch',
  'IncompleteBody',
]);
/** S3 error codes that mean the credentials are missing, wrong or not allowed. */
const ACCESS_CODES = new Set([
  'AccessDenied',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'ExpiredToken',
  'InvalidToken',
  'AllAccessDisabled',
]);

/** What an S3 failure is, from its status and error code, in our error classes. */
export function classifyS3Failure(
  what: string,
  status: number | undefined,
  code: string | undefined,
  message: string,
  cause?: unknown,
): Error {
  const detail = `${what}: ${status ?? 'no answer'}${code === undefined ? '' : ` ${code}`}${message === '' ? '' : `: ${message}`}`;
  if (status === 412 || code === 'PreconditionFailed') {
    return new ObjectChangedError(what, `${what} changed while it was read (${detail})`);
  }
  if (code === 'CredentialsProviderError') {
    return new StorageUnreachableError(
      's3',
      'no_access',
      `${what}: no AWS credentials: set access_key and secret_key in checkpoint_storage, or ` +
        'AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, a profile or an instance role',
      { cause },
    );
  }
  if (status === 403 || (code !== undefined && ACCESS_CODES.has(code))) {
    return new StorageUnreachableError('s3', 'no_access', `access denied: ${detail}`, { cause });
  }
  if (code === 'NoSuchBucket') {
    return new StorageUnreachableError('s3', 'not_found', `no such bucket: ${detail}`, { cause });
  }
  if (status === 429 || status === 503 || (code !== undefined && THROTTLING_CODES.has(code))) {
    return new TransientStorageError(`throttled: ${detail}`, { cause, isThrottled: true });
  }
  if (
    status === undefined ||
    status >= 500 ||
    code === 'RequestTimeout' ||
    (code !== undefined && CORRUPTED_CODES.has(code))
  ) {
    return new TransientStorageError(detail, { cause });
  }
  return new StorageError(detail, { cause });
}

/** The `Code` and `Message` of an S3 XML error body. */
export function parseS3ErrorBody(body: string): { code: string | undefined; message: string } {
  const code = /<Code>([^<]*)<\/Code>/.exec(body)?.[1];
  const message = /<Message>([^<]*)<\/Message>/.exec(body)?.[1] ?? '';
  return { code, message };
}

/**
 * An error thrown by @aws-sdk/client-s3 (or its credential chain), classified. Network
 * failures the SDK gave up on are transient: the engine decides whether to go on.
 */
export function fromSdkError(what: string, err: unknown): Error {
  if (err instanceof StorageError) {
    return err;
  }
  if (!(err instanceof Error)) {
    return new StorageError(`${what}: ${String(err)}`, { cause: err });
  }
  if (err.name === 'AbortError') {
    return err;
  }
  const meta = (err as { $metadata?: { httpStatusCode?: number } }).$metadata;
  const status = meta?.httpStatusCode;
  const code = err.name === 'Error' ? undefined : err.name;
  return classifyS3Failure(what, status, code, err.message, err);
}
