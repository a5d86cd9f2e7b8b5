// A raw TCP client for byte-level assertions: what arrives, and whether the connection ended
// with a FIN or a reset. HTTP clients (fetch, node:http, the SDK) hide both.
import { connect } from 'node:net';
import type { Socket } from 'node:net';

export interface RawExchange {
  socket: Socket;
  /** Everything received so far, split at the end of the response head. */
  received(): { head: string; body: Buffer };
  /** How the server ended the connection. */
  ending: Promise<'end' | 'reset'>;
}

const RESET_CODES = ['ECONNRESET', 'EPIPE'];

/**
 * Sends `request` (raw HTTP/1.1 text) to `endpoint` and records the answer. Node (libuv)
 * reports an RST that arrives with the last data as a clean EOF, so after an EOF the socket,
 * kept half-open, writes one byte: the kernel refuses it on a reset connection.
 */
export function rawRequest(endpoint: string, request: string): RawExchange {
  const { port } = new URL(endpoint);
  const socket = connect({ port: Number(port), host: '127.0.0.1', allowHalfOpen: true });
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  const ending = new Promise<'end' | 'reset'>((resolve, reject) => {
    const isReset = (err: unknown): boolean =>
      RESET_CODES.includes((err as NodeJS.ErrnoException | undefined)?.code ?? '');
    socket.on('end', () =>
      socket.write('x', (err) => {
        resolve(isReset(err) ? 'reset' : 'end');
        socket.destroy();
      }),
    );
    socket.on('error', (err) => (isReset(err) ? resolve('reset') : reject(err)));
  });
  socket.write(request);
  const received = (): { head: string; body: Buffer } => {
    const all = Buffer.concat(chunks);
    const end = all.indexOf('\r\n\r\n');
    return end < 0
      ? { head: '', body: Buffer.alloc(0) }
      : { head: all.toString('latin1', 0, end), body: all.subarray(end + 4) };
  };
  return { socket, received, ending };
}

/** A bare `GET path` (no credentials). */
export function rawGet(endpoint: string, path: string): RawExchange {
  return rawRequest(endpoint, `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
}
