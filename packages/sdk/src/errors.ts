export { IntegrityError, StorageError } from '@determined-ts/storage/common';

import type { ErrorCode } from '@determined-ts/api';

/** A non-2xx answer from the master. Built only by `createApiError`. */
export class ApiError extends Error {
  readonly status: number;
  /** Our stable code, derived from the body's gRPC reason or the status. */
  readonly code: ErrorCode | undefined;
  readonly method: string;
  readonly url: string;
  readonly requestId: string | undefined;
  readonly body: unknown;

  constructor(init: {
    status: number;
    code: ErrorCode | undefined;
    method: string;
    url: string;
    requestId: string | undefined;
    body: unknown;
    serverMessage: string;
  }) {
    const path = safePath(init.url);
    const rid = init.requestId === undefined ? '' : ` (request id ${init.requestId})`;
    super(
      `${init.method} ${path}: ${init.status} ${init.code ?? 'error'}: ${init.serverMessage}${rid}`,
    );
    this.name = 'ApiError';
    this.status = init.status;
    this.code = init.code;
    this.method = init.method;
    this.url = init.url;
    this.requestId = init.requestId;
    this.body = init.body;
  }
}

/**
 * An answer the call cannot use, whatever its status said: truncated or invalid JSON, a page that
 * is not JSON (a proxy's HTML), a field of the wrong type or missing, a success status whose body
 * is an error, a stream line that is garbage or an error. Nothing is returned or written from
 * such an answer. The message names the call and the problem:
 * `GET /api/v1/trials/42: field trial.id: expected an integer, got "abc"`.
 */
export class UnexpectedResponseError extends Error {
  readonly method: string;
  /** The call's path, without the query (`/api/v1/trials/42`). */
  readonly path: string;
  /** The full URL, with the query. */
  readonly url: string;
  /** The HTTP status the answer came with (2xx: the problem is in the body). */
  readonly status: number;
  /** What was wrong, e.g. `truncated JSON` or `field checkpoint.uuid: expected a UUID, got 42`. */
  readonly problem: string;
  /** The start of the body (or of the stream line), whitespace collapsed: at most 200 characters. */
  readonly bodySnippet: string;
  readonly requestId: string | undefined;

  constructor(
    init: {
      method: string;
      url: string;
      status: number;
      problem: string;
      body: string;
      requestId?: string | undefined;
    },
    options: { cause?: unknown } = {},
  ) {
    const path = safePath(init.url).replace(/\?.*$/, '');
    const rid = init.requestId === undefined ? '' : ` (request id ${init.requestId})`;
    super(`${init.method} ${path}: ${init.problem}${rid}`, options);
    this.name = 'UnexpectedResponseError';
    this.method = init.method;
    this.path = path;
    this.url = init.url;
    this.status = init.status;
    this.problem = init.problem;
    this.bodySnippet = snippet(init.body, 200);
    this.requestId = init.requestId;
  }
}

/** `text` on one line, cut to `max` characters with an ellipsis. */
function snippet(text: string, max: number): string {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length <= max ? line : `${line.slice(0, max - 1)}…`;
}

function safePath(url: string): string {
  try {
    const u = new URL(url);
    return u.pathname + u.search;
  } catch {
    return url;
  }
}

/** The master could not be reached, or the connection broke. */
export class NetworkError extends Error {
  readonly url: string;

  constructor(url: string, options: { cause?: unknown } = {}) {
    const cause = options.cause instanceof Error ? `: ${options.cause.message}` : '';
    super(`cannot reach ${url}${cause}`, options);
    this.name = 'NetworkError';
    this.url = url;
  }
}

/** No session, or the master rejected the credentials. */
export class AuthenticationError extends Error {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, options);
    this.name = 'AuthenticationError';
  }
}

/** An argument broke one of the selection rules; `rule` names which. */
export class ArgumentError extends Error {
  readonly rule: string;

  constructor(rule: string, message: string) {
    super(message);
    this.name = 'ArgumentError';
    this.rule = rule;
  }
}

/** No checkpoint of the trial satisfies the selection. */
export class NoCheckpointError extends Error {
  readonly trialId: number;
  readonly rule: string;

  constructor(trialId: number, rule: string) {
    super(`no checkpoint of trial ${trialId} qualifies: ${rule}`);
    this.name = 'NoCheckpointError';
    this.trialId = trialId;
    this.rule = rule;
  }
}

/** The checkpoint is in a state that forbids the operation (e.g. downloading a DELETED one). */
export class CheckpointStateError extends Error {
  readonly uuid: string;
  readonly state: string;

  constructor(uuid: string, state: string, message: string) {
    super(message);
    this.name = 'CheckpointStateError';
    this.uuid = uuid;
    this.state = state;
  }
}

/**
 * The master does not offer an extension of Determined-TS that the call needs (a real
 * Determined master, or an older Determined-TS one): `feature` names it.
 */
export class UnsupportedFeatureError extends Error {
  readonly feature: string;

  constructor(feature: string, message: string) {
    super(message);
    this.name = 'UnsupportedFeatureError';
    this.feature = feature;
  }
}
