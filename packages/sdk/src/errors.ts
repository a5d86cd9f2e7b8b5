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
