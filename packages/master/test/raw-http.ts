// HTTP/1.1 spoken byte by byte over a plain socket, for tests of what the server does with
// connections: timeouts, caps, draining.
import { connect } from 'node:net';
import type { Socket } from 'node:net';

export interface RawConnection {
  socket: Socket;
  /** Everything received so far. */
  received(): string;
  /** Resolves when the socket has closed, for whatever reason. */
  closed: Promise<void>;
  /** Resolves with what was received once `done` holds for it; rejects if the socket closes first. */
  waitFor(done: (received: string) => boolean): Promise<string>;
}

/** Opens a connection; `allowHalfOpen` keeps our side open after the server's FIN. */
export function rawConnect(
  port: number,
  { host = '127.0.0.1', allowHalfOpen = false }: { host?: string; allowHalfOpen?: boolean } = {},
): Promise<RawConnection> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host, allowHalfOpen });
    let text = '';
    const waiters: {
      done(r: string): boolean;
      resolve(r: string): void;
      reject(e: Error): void;
    }[] = [];
    const check = (): void => {
      for (const waiter of waiters.splice(0)) {
        if (waiter.done(text)) {
          waiter.resolve(text);
        } else {
          waiters.push(waiter);
        }
      }
    };
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      text += chunk;
      check();
    });
    let isClosed = false;
    const closed = new Promise<void>((done) =>
      socket.once('close', () => {
        isClosed = true;
        for (const waiter of waiters.splice(0)) {
          waiter.reject(new Error(`connection closed after receiving ${JSON.stringify(text)}`));
        }
        done();
      }),
    );
    socket.once('connect', () => {
      socket.off('error', reject);
      // Resets after the server closed are expected in these tests; 'close' still follows.
      socket.on('error', () => undefined);
      resolve({
        socket,
        received: () => text,
        closed,
        waitFor: (done) =>
          new Promise((resolveWait, rejectWait) => {
            if (done(text)) {
              resolveWait(text);
            } else if (isClosed) {
              rejectWait(new Error(`connection closed after receiving ${JSON.stringify(text)}`));
            } else {
              waiters.push({ done, resolve: resolveWait, reject: rejectWait });
            }
          }),
      });
    });
    socket.once('error', reject);
  });
}

export interface RawResponse {
  status: number;
  /** Header names in lower case. */
  headers: Record<string, string>;
  body: string;
}

/** The responses in `text` that have fully arrived (Content-Length framing only). */
export function completeResponses(text: string): RawResponse[] {
  const out: RawResponse[] = [];
  let rest = text;
  for (;;) {
    const split = rest.indexOf('\r\n\r\n');
    if (split < 0) {
      return out;
    }
    const [statusLine = '', ...lines] = rest.slice(0, split).split('\r\n');
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const colon = line.indexOf(':');
      headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(statusLine)?.[1]);
    const length = Number(headers['content-length'] ?? 0);
    const bodyStart = split + 4;
    if (rest.length < bodyStart + length) {
      return out;
    }
    out.push({ status, headers, body: rest.slice(bodyStart, bodyStart + length) });
    rest = rest.slice(bodyStart + length);
  }
}

/** Waits until `n` complete responses (100 Continue included) have arrived on `conn`. */
export async function waitForResponses(conn: RawConnection, n: number): Promise<RawResponse[]> {
  return completeResponses(await conn.waitFor((text) => completeResponses(text).length >= n));
}

/** Resolves with the connect error's code (`ECONNREFUSED`), or `connected`. */
export function tryConnect(port: number, host = '127.0.0.1'): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ port, host });
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (err: Error & { code?: string }) => resolve(err.code ?? err.message));
  });
}
