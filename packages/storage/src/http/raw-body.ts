import { connect as netConnect, isIP } from 'node:net';
import type { OnReadOpts, Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { ConnectionOptions } from 'node:tls';

import { abortReason } from '../common.js';
import type { BodyOpener, StreamedResponse } from '../common.js';
import { ResponseParser } from './response-parser.js';
import type { ResponseHead } from './response-parser.js';

/** The socket is read into one buffer of this size, reused for every read. */
const READ_BUFFER_BYTES = 1024 * 1024;

/**
 * The SDK's transport for large bodies: one HTTP/1.1 GET on a socket of its own (TCP, or TLS
 * with `tls`' options), read with `onread` into one reused buffer. Every body chunk is a view of
 * that buffer, valid until the next one is asked for: the socket is paused meanwhile.
 *
 * Why not node:http: each of its socket reads lands in fresh memory (a 64 KiB allocation per
 * read), and on small VMs touching fresh memory is what costs most. Measured here, reading a
 * 1 GiB archive and dropping it took 2.5–4 CPU-s with node:http, 1.5–2 with a plain socket,
 * and 0.25–0.33 with a plain socket reading into a reused buffer (global fetch: more still).
 * The price is this small client: no redirects, no proxies, no keep-alive (the connection
 * closes after the body), which is all a checkpoint archive from a master needs.
 */
export function rawBodyOpener(tls: ConnectionOptions = {}): BodyOpener {
  return async (url, { headers, signal }) => {
    const target = new URL(url);
    const isHttps = target.protocol === 'https:';
    if (!isHttps && target.protocol !== 'http:') {
      throw new TypeError(`cannot GET ${url}: only http and https are supported`);
    }
    signal.throwIfAborted();
    const request = requestHead(target, headers);
    return new SocketBody(target, request, signal, isHttps ? tls : undefined).opened;
  };
}

/** The transport for clients whose `fetch` is the default one. */
export const openRawBody: BodyOpener = rawBodyOpener();

/** One GET on its own connection, its body an async iterable of views of the read buffer. */
class SocketBody implements AsyncIterable<Uint8Array> {
  /** Resolves once the response head has arrived. */
  readonly opened: Promise<StreamedResponse>;
  readonly #socket: Socket;
  readonly #parser = new ResponseParser();
  #resolveOpened: (response: StreamedResponse) => void = () => undefined;
  #rejectOpened: (err: Error) => void = () => undefined;
  #hasHead = false;
  /** Body pieces of the last read, not yet handed out; the socket is paused while any wait. */
  readonly #queue: Uint8Array[] = [];
  #isEnded = false;
  #error: Error | undefined;
  #wake: (() => void) | undefined;
  #isIterating = false;

  constructor(
    target: URL,
    request: string,
    signal: AbortSignal,
    tls: ConnectionOptions | undefined,
  ) {
    this.opened = new Promise((resolve, reject) => {
      this.#resolveOpened = resolve;
      this.#rejectOpened = reject;
    });
    const host = target.hostname.replace(/^\[(.*)\]$/, '$1'); // [::1] → ::1
    const isHttps = tls !== undefined;
    const port = Number(target.port === '' ? (isHttps ? 443 : 80) : target.port);
    const buffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);
    const onread: OnReadOpts = { buffer, callback: (n) => this.#onRead(buffer.subarray(0, n)) };
    if (isHttps) {
      // tls.connect takes `onread` as net.connect does; @types/node leaves it out.
      const options: ConnectionOptions & { onread: OnReadOpts } = {
        ...tls,
        host,
        port,
        servername: isIP(host) === 0 ? host : undefined,
        onread,
      };
      this.#socket = tlsConnect(options);
    } else {
      this.#socket = netConnect({ host, port, onread });
    }
    const onAbort = (): void => void this.#socket.destroy(abortReason(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    this.#socket.once(isHttps ? 'secureConnect' : 'connect', () => this.#socket.write(request));
    this.#socket.on('error', (err) => this.#fail(err));
    this.#socket.once('close', () => {
      signal.removeEventListener('abort', onAbort);
      this.#onClose();
    });
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Uint8Array> {
    if (this.#isIterating) {
      throw new Error('a response body can be read only once');
    }
    this.#isIterating = true;
    try {
      for (;;) {
        const chunk = this.#queue.shift();
        if (chunk !== undefined) {
          yield chunk; // the buffer stays as it is until the caller asks for more
          continue;
        }
        if (this.#error !== undefined) {
          throw this.#error;
        }
        if (this.#isEnded) {
          return;
        }
        const more = new Promise<void>((resolve) => {
          this.#wake = resolve;
        });
        this.#socket.resume();
        await more;
      }
    } finally {
      this.#socket.destroy(); // stopped early, or done: the connection is not reused
    }
  }

  #response(head: ResponseHead): StreamedResponse {
    return {
      ...head,
      body: this,
      cancel: () => {
        this.#isEnded = true;
        this.#queue.length = 0;
        this.#socket.destroy();
        this.#notify();
      },
    };
  }

  /** Parses one read; returns false (pause) while its body pieces wait to be taken. */
  #onRead(bytes: Buffer): boolean {
    try {
      const pieces = this.#parser.push(bytes);
      const head = this.#parser.head;
      if (head !== undefined && !this.#hasHead) {
        this.#hasHead = true;
        this.#resolveOpened(this.#response(head));
      }
      this.#queue.push(...pieces);
      if (this.#parser.isComplete) {
        this.#isEnded = true;
      }
    } catch (err: unknown) {
      this.#fail(err instanceof Error ? err : new Error(String(err)));
      return false;
    }
    this.#notify();
    return this.#queue.length === 0;
  }

  #onClose(): void {
    if (!this.#isEnded && this.#error === undefined) {
      try {
        this.#parser.finish();
        this.#isEnded = true;
      } catch (err: unknown) {
        this.#fail(err instanceof Error ? err : new Error(String(err)));
        return;
      }
    }
    this.#notify();
  }

  #fail(err: Error): void {
    if (!this.#isEnded) {
      this.#error ??= err; // after the body's end, an error changes nothing
    }
    this.#rejectOpened(err); // no effect once the head has arrived
    this.#socket.destroy();
    this.#notify();
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}

/** `GET` with `headers`, asking the server to close the connection after the body. */
function requestHead(target: URL, headers: Record<string, string>): string {
  const lines = [`GET ${target.pathname}${target.search} HTTP/1.1`, `host: ${target.host}`];
  for (const [name, value] of Object.entries(headers)) {
    if (/[\r\n]/.test(name) || /[\r\n]/.test(value)) {
      throw new TypeError(`header ${JSON.stringify(name)} holds a line break`);
    }
    lines.push(`${name}: ${value}`);
  }
  lines.push('connection: close', '', '');
  return lines.join('\r\n');
}
