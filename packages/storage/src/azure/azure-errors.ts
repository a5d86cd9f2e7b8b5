import { abortReason } from '../common.js';
import {
  ObjectChangedError,
  StorageError,
  StorageUnreachableError,
  TransientStorageError,
} from '../errors.js';

/** Azure error codes (`x-ms-error-code`) that mean the credentials are missing, wrong or not allowed. */
const ACCESS_CODES = new Set([
  'AuthenticationFailed',
  'AuthorizationFailure',
  'AuthorizationPermissionMismatch',
  'AuthorizationProtocolMismatch',
  'AuthorizationResourceTypeMismatch',
  'AuthorizationServiceMismatch',
  'AuthorizationSourceIPMismatch',
  'InsufficientAccountPermissions',
  'AccountIsDisabled',
  'InvalidAuthenticationInfo',
  'NoAuthenticationInformation',
  'KeyBasedAuthenticationNotPermitted',
  'PublicAccessNotPermitted',
]);
/**
 * Codes that mean the container (or, for anonymous requests to a private container, whatever
 * the URL names) is not there.
 */
const NOT_FOUND_CODES = new Set(['ContainerNotFound', 'ContainerBeingDeleted', 'ResourceNotFound']);
/** Codes that mean "slow down": retried with fewer connections. */
const THROTTLING_CODES = new Set(['ServerBusy', 'TooManyRequests']);
/** Codes of failures on the service's side that another attempt may well not meet. */
const TRANSIENT_CODES = new Set(['OperationTimedOut', 'InternalError', 'RequestTimeout']);

/** What an Azure Blob failure is, from its status and `x-ms-error-code`, in our error classes. */
export function classifyAzureFailure(
  what: string,
  status: number | undefined,
  code: string | undefined,
  message: string,
  cause?: unknown,
): Error {
  const detail = `${what}: ${status ?? 'no answer'}${code === undefined ? '' : ` ${code}`}${message === '' ? '' : `: ${message}`}`;
  if (status === 412 || code === 'ConditionNotMet') {
    return new ObjectChangedError(what, `${what} changed while it was read (${detail})`);
  }
  if (status === 401 || status === 403 || (code !== undefined && ACCESS_CODES.has(code))) {
    return new StorageUnreachableError('azure', 'no_access', `access denied: ${detail}`, { cause });
  }
  if (code !== undefined && NOT_FOUND_CODES.has(code)) {
    return new StorageUnreachableError('azure', 'not_found', `no such container: ${detail}`, {
      cause,
    });
  }
  if (status === 429 || status === 503 || (code !== undefined && THROTTLING_CODES.has(code))) {
    return new TransientStorageError(`throttled: ${detail}`, { cause, isThrottled: true });
  }
  if (
    status === undefined ||
    status >= 500 ||
    status === 408 ||
    (code !== undefined && TRANSIENT_CODES.has(code))
  ) {
    return new TransientStorageError(detail, { cause });
  }
  return new StorageError(detail, { cause });
}

/** The first line of a service message: Azure appends `RequestId:…` and `Time:…` lines. */
function firstLine(message: string): string {
  return (message.split('\n')[0] ?? '').trim();
}

/** The `Message` of an Azure XML error body, first line only. */
export function parseAzureErrorMessage(body: string): string {
  return firstLine(/<Message>([^<]*)<\/Message>/.exec(body)?.[1] ?? '');
}

/** The status and error code a `RestError` of @azure/storage-blob carries. */
function restErrorFields(err: Error): { status: number | undefined; code: string | undefined } {
  const fields = err as Error & { statusCode?: unknown; code?: unknown; details?: unknown };
  const status = typeof fields.statusCode === 'number' ? fields.statusCode : undefined;
  // Answers without a body (HEAD) leave `code` unset; the parsed header is in `details`.
  const details = fields.details;
  const detailCode =
    typeof details === 'object' && details !== null && 'errorCode' in details
      ? details.errorCode
      : undefined;
  const code =
    typeof detailCode === 'string'
      ? detailCode
      : typeof fields.code === 'string'
        ? fields.code
        : undefined;
  return { status, code };
}

/** The HTTP status of an error thrown by @azure/storage-blob, when it got an answer. */
export function sdkStatus(err: unknown): number | undefined {
  return err instanceof Error ? restErrorFields(err).status : undefined;
}

/**
 * An error thrown by @azure/storage-blob, classified. Network failures its retry policy gave
 * up on (`ECONNREFUSED`, `REQUEST_SEND_ERROR`: no status) are transient: the caller decides
 * whether to go on. An abort of `signal` is thrown as the signal's reason.
 */
export function fromAzureSdkError(what: string, err: unknown, signal?: AbortSignal): Error {
  if (signal?.aborted === true) {
    return abortReason(signal);
  }
  if (err instanceof StorageError) {
    return err;
  }
  if (!(err instanceof Error)) {
    return new StorageError(`${what}: ${String(err)}`, { cause: err });
  }
  if (err.name === 'AbortError') {
    return err;
  }
  const { status, code } = restErrorFields(err);
  return classifyAzureFailure(what, status, code, firstLine(err.message), err);
}
