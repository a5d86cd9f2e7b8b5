import {
  ObjectChangedError,
  StorageError,
  StorageUnreachableError,
  TransientStorageError,
} from '../errors.js';

/** System error codes of a request that got no answer: worth another attempt. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'ECONNABORTED',
  'UND_ERR_SOCKET',
]);
/** XML API error codes meaning the bytes arrived other than they were sent. */
const CORRUPTED_CODES = new Set(['BadDigest', 'InvalidDigest']);

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Whether `err` is a system error of a request that got no answer (refused, reset, …). */
export function isNetworkError(err: unknown): boolean {
  const { code, type } = (err ?? {}) as { code?: unknown; type?: unknown };
  return (
    (typeof code === 'string' && NETWORK_CODES.has(code)) ||
    type === 'system' ||
    type === 'request-timeout'
  );
}

/**
 * What a GCS failure is, from its HTTP status and the error's reason (JSON API) or code (XML
 * API), in our error classes. A 400 that says a CRC32C or MD5 did not match means the body was
 * corrupted on the way (GCS checks the hashes an upload names), so sending it again may succeed.
 */
export function classifyGcsFailure(
  what: string,
  status: number | undefined,
  reason: string | undefined,
  message: string,
  cause?: unknown,
): Error {
  const detail = `${what}: ${status ?? 'no answer'}${reason === undefined ? '' : ` ${reason}`}${message === '' ? '' : `: ${message}`}`;
  if (status === 412) {
    return new ObjectChangedError(what, `${what} changed while it was read (${detail})`);
  }
  if (status === 401 || status === 403) {
    return new StorageUnreachableError(
      'gcs',
      'no_access',
      `Google Cloud credentials are missing or access was denied: ${detail}`,
      { cause },
    );
  }
  if (status === 429 || status === 503) {
    return new TransientStorageError(`throttled: ${detail}`, { cause, isThrottled: true });
  }
  const isCorrupted =
    status === 400 &&
    ((reason !== undefined && CORRUPTED_CODES.has(reason)) ||
      /\b(CRC32C|MD5)\b.*\bmatch/i.test(message));
  if (status === undefined || status === 408 || status >= 500 || isCorrupted) {
    return new TransientStorageError(detail, { cause });
  }
  return new StorageError(detail, { cause });
}

/**
 * An error thrown by @google-cloud/storage, classified: its ApiError carries the HTTP status
 * as a numeric `code` and the reasons in `errors`; a request that got no answer is transient.
 */
export function fromLibraryError(what: string, err: unknown): Error {
  if (err instanceof StorageError || (err instanceof Error && err.name === 'AbortError')) {
    return err;
  }
  const { code, errors } = (err ?? {}) as { code?: unknown; errors?: unknown };
  if (typeof code === 'number') {
    const first: unknown = Array.isArray(errors) ? errors[0] : undefined;
    const reason = (first as { reason?: unknown } | undefined)?.reason;
    return classifyGcsFailure(
      what,
      code,
      typeof reason === 'string' ? reason : undefined,
      errorMessage(err),
      err,
    );
  }
  if (isNetworkError(err)) {
    return new TransientStorageError(`${what}: ${errorMessage(err)}`, { cause: err });
  }
  return new StorageError(`${what}: ${errorMessage(err)}`, { cause: err });
}

/**
 * A failure to get an access token, classified: no credentials (or an unreadable key file) is
 * `no_access`, saying where credentials come from; a token endpoint that did not answer is
 * transient.
 */
export function fromCredentialsError(err: unknown, keyFilename: string | undefined): Error {
  if (err instanceof Error && err.name === 'AbortError') {
    return err;
  }
  if (isNetworkError(err)) {
    return new TransientStorageError(`getting a Google Cloud access token: ${errorMessage(err)}`, {
      cause: err,
    });
  }
  const message =
    keyFilename === undefined
      ? 'no Google Cloud credentials: set GOOGLE_APPLICATION_CREDENTIALS to a service account ' +
        'key file, run `gcloud auth application-default login`, or run with a service account ' +
        `on Google Cloud (${errorMessage(err)})`
      : `the Google Cloud credentials in ${keyFilename} (GOOGLE_APPLICATION_CREDENTIALS) are ` +
        `missing or unusable: ${errorMessage(err)}`;
  return new StorageUnreachableError('gcs', 'no_access', message, { cause: err });
}

/**
 * The reason (or XML `Code`) and message of an error answer's body: GCS's JSON API sends
 * `{"error": {"code", "message", "errors": [{"reason"}]}}`, its XML API `<Error><Code>…`.
 */
export function parseGcsErrorBody(body: string): { reason: string | undefined; message: string } {
  try {
    const parsed = JSON.parse(body) as {
      error?: { message?: unknown; errors?: { reason?: unknown }[] };
    };
    const reason = parsed.error?.errors?.[0]?.reason;
    const message = parsed.error?.message;
    return {
      reason: typeof reason === 'string' ? reason : undefined,
      message: typeof message === 'string' ? message : '',
    };
  } catch {
    // Not JSON: the XML API's error document, or a proxy's page.
  }
  const code = /<Code>([^<]*)<\/Code>/.exec(body)?.[1];
  const message = /<Message>([^<]*)<\/Message>/.exec(body)?.[1] ?? body.trim().slice(0, 200);
  return { reason: code, message };
}
