import type { ErrorCode } from '@determined-ts/api';

/** An error with an HTTP status and a stable code; `app.onError` turns it into the JSON body. */
export class HttpError extends Error {
  readonly code: ErrorCode;
  readonly details: unknown;

  constructor(
    code: ErrorCode,
    message: string,
    options: { details?: unknown; cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = 'HttpError';
    this.code = code;
    this.details = options.details;
  }
}

export const badRequest = (message: string, details?: unknown): HttpError =>
  new HttpError('invalid_argument', message, { details });

/** Determined's NotFound wording: `<entity> '<id>' not found`. */
export const notFound = (entity: string, id: string | number): HttpError =>
  new HttpError('not_found', `${entity} '${id}' not found`);

export const unauthenticated = (message = 'invalid credentials'): HttpError =>
  new HttpError('unauthenticated', message);

export const forbidden = (message: string): HttpError =>
  new HttpError('permission_denied', message);

/** A unique-constraint failure from either database driver. */
export function isUniqueViolation(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return (
    code === '23505' ||
    code === 'SQLITE_CONSTRAINT_UNIQUE' ||
    code === 'SQLITE_CONSTRAINT_PRIMARYKEY'
  );
}

/** Thrown by `config.ts` when the configuration is unusable; `main.ts` prints it and exits 2. */
export class ConfigError extends Error {
  readonly problems: string[];

  constructor(problems: string[]) {
    super(`invalid configuration:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}
