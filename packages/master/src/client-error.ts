import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';

import type { ErrorCode } from '@determined-ts/api';
import { ERROR_CODES } from '@determined-ts/api';

import { errorBody } from './app.js';

/** What Node's HTTP parser refused, as our error codes: too large, too slow, or malformed. */
function codeOf(err: Error & { code?: string }): { code: ErrorCode; message: string } {
  if (err.code === 'HPE_HEADER_OVERFLOW') {
    return { code: 'headers_too_large', message: 'request headers are too large' };
  }
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    return { code: 'request_timeout', message: 'the request did not arrive in time' };
  }
  return { code: 'invalid_argument', message: `malformed HTTP request (${err.code ?? 'unknown'})` };
}

/**
 * Answers a request Node's HTTP layer refused before any route saw it (`clientError`: headers
 * too large, a malformed request line, a request that took too long) with our JSON error body,
 * where Node would send a bare status line, and closes the connection. A socket that cannot be
 * written to any more, or already carries a response, is only destroyed.
 */
export function answerClientError(err: Error & { code?: string }, socket: Duplex): void {
  const inResponse = (socket as { _httpMessage?: unknown })._httpMessage !== undefined;
  if (err.code === 'ECONNRESET' || !socket.writable || inResponse) {
    socket.destroy();
    return;
  }
  const { code, message } = codeOf(err);
  endWithError(socket, code, message);
}

/**
 * Writes a whole HTTP response carrying our JSON error body on a socket no HTTP layer writes
 * to, and ends the socket: for requests refused before Node's parser or our app answered them.
 */
export function endWithError(socket: Duplex, code: ErrorCode, message: string): void {
  const { status } = ERROR_CODES[code];
  const body = JSON.stringify(errorBody(code, message));
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\n` +
      'Content-Type: application/json\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      'Connection: close\r\n\r\n' +
      body,
  );
}
