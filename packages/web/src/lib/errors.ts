import { ApiError, NetworkError } from '@determined-ts/sdk/client';

/** The session is missing or expired: the master answered 401. */
export function isUnauthenticated(err: unknown): boolean {
  return err instanceof ApiError && err.status === 401;
}

/** The master says the object does not exist. */
export function isNotFound(err: unknown): boolean {
  return err instanceof ApiError && (err.status === 404 || err.code === 'not_found');
}

/** The master refused the id or uuid itself (400). */
export function isInvalidArgument(err: unknown): boolean {
  return err instanceof ApiError && err.status === 400;
}

/** The message the master put in its error body, if any. */
function serverMessage(err: ApiError): string | undefined {
  const body = err.body as { message?: unknown; error?: { message?: unknown } } | null;
  const message = typeof body === 'object' ? (body?.error?.message ?? body?.message) : undefined;
  return typeof message === 'string' && message !== '' ? message : undefined;
}

/** A line to show the user: the master's own message for API errors, a plain one otherwise. */
export function toUserMessage(err: unknown): string {
  if (err instanceof ApiError) {
    const message = serverMessage(err);
    if (err.status >= 500) {
      return `The master failed (${err.status})${message === undefined ? '' : `: ${message}`}.`;
    }
    return message ?? err.message;
  }
  if (err instanceof NetworkError) {
    return 'Cannot reach the master. Check that it is running.';
  }
  return err instanceof Error ? err.message : String(err);
}
