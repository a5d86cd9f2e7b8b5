/**
 * Stable error codes of the Determined-TS API. Each maps to the gRPC code and reason that
 * Determined's grpc-gateway puts on the wire, and to an HTTP status.
 */
export const ERROR_CODES = {
  invalid_argument: { grpc: 3, reason: 'InvalidArgument', status: 400 },
  failed_precondition: { grpc: 9, reason: 'FailedPrecondition', status: 400 },
  unauthenticated: { grpc: 16, reason: 'Unauthenticated', status: 401 },
  permission_denied: { grpc: 7, reason: 'PermissionDenied', status: 403 },
  not_found: { grpc: 5, reason: 'NotFound', status: 404 },
  already_exists: { grpc: 6, reason: 'AlreadyExists', status: 409 },
  payload_too_large: { grpc: 8, reason: 'ResourceExhausted', status: 413 },
  unsupported_media_type: { grpc: 3, reason: 'InvalidArgument', status: 415 },
  // HTTP conditional and range requests (the archive download): an If-Match that names
  // another ETag, a Range outside the representation.
  precondition_failed: { grpc: 9, reason: 'FailedPrecondition', status: 412 },
  range_not_satisfiable: { grpc: 11, reason: 'OutOfRange', status: 416 },
  // Refused by the HTTP layer before any route: a request too slow to arrive, headers too large.
  request_timeout: { grpc: 4, reason: 'DeadlineExceeded', status: 408 },
  headers_too_large: { grpc: 8, reason: 'ResourceExhausted', status: 431 },
  // A store behind the master (checkpoint storage in S3) refused it or could not be reached.
  bad_gateway: { grpc: 14, reason: 'Unavailable', status: 502 },
  // Too many failed logins from one user name or address: wait for Retry-After.
  too_many_requests: { grpc: 8, reason: 'ResourceExhausted', status: 429 },
  // The master cannot take the request now (draining for shutdown, or at its connection cap).
  unavailable: { grpc: 14, reason: 'Unavailable', status: 503 },
  internal: { grpc: 13, reason: 'Internal', status: 500 },
} as const satisfies Record<string, { grpc: number; reason: string; status: number }>;

export type ErrorCode = keyof typeof ERROR_CODES;

/**
 * The JSON body of every error response.
 *
 * `error.code`, `error.reason` and `error.error` are what Determined's grpc-gateway sends, so
 * Determined's own clients understand us; `message` (top level and in `error`) is what its
 * Python SDK reads first. `error.details` carries structured extras, such as the paths of
 * invalid fields.
 */
export interface ErrorBody {
  message: string;
  error: {
    code: number;
    reason: string;
    error: string;
    message: string;
    details?: unknown;
  };
}

/**
 * Maps a gRPC reason string from an error body back to our code, or `undefined`. Several codes
 * share a reason (ResourceExhausted is 413, 429 and 431); the HTTP status, when given, picks one.
 */
export function errorCodeFromReason(reason: string, status?: number): ErrorCode | undefined {
  const matches = (Object.keys(ERROR_CODES) as ErrorCode[]).filter(
    (code) => ERROR_CODES[code].reason === reason,
  );
  return matches.find((code) => ERROR_CODES[code].status === status) ?? matches[0];
}
