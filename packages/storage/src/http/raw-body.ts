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
/** Idle connections kept per host:port, and how long one may idle before it is closed. */
const MAX_IDLE_PER_HOST = 16;
const IDLE_TIMEOUT_MS = 15_000;

export interface RawBodyOptions {
  /**
   * Keep connections open between requests to the same host and port (HTTP/1.1 persistent
   * connections), for many small GETs: a checkpoint of a thousand objects, over TLS. A body
   * read to its end gives its connection back; one stopped early closes it.
   * @default false
   */
  keepAlive?: boolean;
}

/**
 * The transport for large bodies: HTTP/1.1 GETs on sockets of our own (TCP, or TLS with `tls`'
 * options), read with `onread` into one reused buffer per connection. Every body chunk is a
 * view of that buffer, valid until the next one is asked for: the socket is paused meanwhile.
 *
 * Why not node:http: each of its socket reads lands in fresh memory (a 64 KiB allocation per
 * read), and on small VMs touching fresh memory is what costs most. Measured here, reading a
 * 1 GiB archive and dropping it took 2.5–4 CPU-s with node:http, 1.5–2 with a plain socket,
 * and 0.25–0.33 with a plain socket reading into a reused buffer (global fetch: more still).
 * The price is this small client: GETs only, no redirects, no proxies.
 */
export function rawBodyOpener(
  tls: ConnectionOptions = {},
  { keepAlive = false }: RawBodyOptions = {},
): BodyOpener {
  const pool = keepAlive ? new ConnectionPool() : undefined;
  return async (url, { headers, signal }) => {
    const target = new URL(url);
    const isHttps = target.protocol === 'https:';
    if (!isHttps && target.protocol !== 'http:') {
      throw new TypeError(`cannot GET ${url}: only http and https are supported`);
    }
    signal.throwIfAborted();
    const request = requestHead(target, headers, keepAlive);
    const key = `${target.protocol}//${target.host}`;
    const idle = pool?.take(key);
    if (idle !== undefined) {
      const exchange = new Exchange(idle, request, signal, pool);
      try {
        return await exchange.opened;
      } catch (err: unknown) {
        // The server closed the idle connection as we sent on it: a fresh one, once. Only
        // when nothing of an answer came back, so a GET is never answered twice.
        if (signal.aborted || exchange.hasAnswer) {
          throw err;
        }
      }
    }
    const connection = new Connection(target, key, isHttps ? tls : undefined);
    return new Exchange(connection, request, signal, pool).opened;
  };
}

/** What a connection reports to the exchange it carries. */
interface ConnectionUser {
  onRead(bytes: Buffer): boolean;
  onError(err: Error): void;
  onClose(): void;
}

/** One socket and its read buffer; it carries one exchange at a time. */
class Connection {
  readonly socket: Socket;
  readonly key: string;
  /** Resolves once the socket can be written to. */
  readonly ready: Promise<void>;
  isIdle = false;
  #user: ConnectionUser | undefined;
  #pool: ConnectionPool | undefined;

  constructor(target: URL, key: string, tls: ConnectionOptions | undefined) {
    this.key = key;
    const host = target.hostname.replace(/^\[(.*)\]$/, '$1'); // [::1] → ::1
    const isHttps = tls !== undefined;
    const port = Number(target.port === '' ? (isHttps ? 443 : 80) : target.port);
    const buffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);
    const onread: OnReadOpts = {
      buffer,
      callback: (n) => this.#onRead(buffer.subarray(0, n)),
    };
    if (isHttps) {
      // tls.connect takes `onread` as net.connect does; @types/node leaves it out.
      const options: ConnectionOptions & { onread: OnReadOpts } = {
        ...tls,
        host,
        port,
        servername: isIP(host) === 0 ? host : undefined,
        onread,
      };
      this.socket = tlsConnect(options);
    } else {
      this.socket = netConnect({ host, port, onread });
    }
    this.ready = new Promise((resolve) => {
      this.socket.once(isHttps ? 'secureConnect' : 'connect', () => resolve());
    });
    this.socket.on('error', (err) => this.#user?.onError(err));
    this.socket.once('close', () => {
      this.#pool?.forget(this);
      this.#user?.onClose();
    });
    this.socket.on('timeout', () => {
      if (this.isIdle) {
        this.socket.destroy();
      }
    });
  }

  /** Hands the connection to an exchange. */
  use(user: ConnectionUser): void {
    this.#user = user;
  }

  /** Takes the connection back from its exchange, idle in `pool`. */
  release(pool: ConnectionPool): void {
    this.#user = undefined;
    this.#pool = pool;
  }

  #onRead(bytes: Buffer): boolean {
    if (this.#user === undefined) {
      this.socket.destroy(); // bytes nobody asked for: the connection cannot be trusted
      return false;
    }
    return this.#user.onRead(bytes);
  }
}

/** Idle connections by host and port, the most recent first; an idle one never holds the process. */
class ConnectionPool {
  readonly #idle = new Map<string, Connection[]>();

  take(key: string): Connection | undefined {
    const list = this.#idle.get(key);
    for (let c = list?.pop(); c !== undefined; c = list?.pop()) {
      if (!c.socket.destroyed) {
        c.isIdle = false;
        c.socket.setTimeout(0);
        c.socket.ref();
        return c;
      }
    }
    return undefined;
  }

  give(c: Connection): void {
    const list = this.#idle.get(c.key) ?? [];
    if (list.length >= MAX_IDLE_PER_HOST || c.socket.destroyed) {
      c.socket.destroy();
      return;
    }
    c.release(this);
    c.isIdle = true;
    c.socket.setTimeout(IDLE_TIMEOUT_MS);
    c.socket.unref();
    c.socket.resume(); // so that the server closing it is seen at once
    list.push(c);
    this.#idle.set(c.key, list);
  }

  forget(c: Connection): void {
    const list = this.#idle.get(c.key);
    const i = list?.indexOf(c) ?? -1;
    if (list !== undefined && i >= 0) {
      list.splice(i, 1);
    }
  }
}

/** One GET on a connection, its body an async iterable of views of the read buffer. */
class Exchange implements AsyncIterable<Uint8Array>, ConnectionUser {
  /** Resolves once the response head has arrived. */
  readonly opened: Promise<StreamedResponse>;
  readonly #connection: Connection;
  readonly #socket: Socket;
  readonly #pool: ConnectionPool | undefined;
  readonly #signal: AbortSignal;
  readonly #onAbort: () => void;
  readonly #parser = new ResponseParser();
  #resolveOpened: (response: StreamedResponse) => void = () => undefined;
  #rejectOpened: (err: Error) => void = () => undefined;
  #head: ResponseHead | undefined;
  /** Whether any byte of an answer arrived. */
  hasAnswer = false;
  /** Body pieces of the last read, not yet handed out; the socket is paused while any wait. */
  readonly #queue: Uint8Array[] = [];
  #isEnded = false;
  #error: Error | undefined;
  #wake: (() => void) | undefined;
  #isIterating = false;
  /** Set once the exchange is over; its connection may carry another by then. */
  #isOver = false;

  constructor(
    connection: Connection,
    request: string,
    signal: AbortSignal,
    pool: ConnectionPool | undefined,
  ) {
    this.opened = new Promise((resolve, reject) => {
      this.#resolveOpened = resolve;
      this.#rejectOpened = reject;
    });
    this.#connection = connection;
    this.#socket = connection.socket;
    this.#pool = pool;
    this.#signal = signal;
    this.#onAbort = (): void => void this.#socket.destroy(abortReason(signal));
    signal.addEventListener('abort', this.#onAbort, { once: true });
    connection.use(this);
    void connection.ready.then(() => this.#socket.write(request));
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Uint8Array> {
    if (this.#isIterating) {
      throw new Error('a response body can be read only once');
    }
    this.#isIterating = true;
    let isDone = false;
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
          isDone = true;
          return;
        }
        const more = new Promise<void>((resolve) => {
          this.#wake = resolve;
        });
        this.#socket.resume();
        await more;
      }
    } finally {
      this.#end(isDone);
    }
  }

  onRead(bytes: Buffer): boolean {
    this.hasAnswer = true;
    try {
      const pieces = this.#parser.push(bytes);
      const head = this.#parser.head;
      if (head !== undefined && this.#head === undefined) {
        this.#head = head;
        this.#resolveOpened(this.#response(head));
      }
      this.#queue.push(...pieces);
      if (this.#parser.isComplete) {
        this.#isEnded = true;
      }
    } catch (err: unknown) {
      this.onError(err instanceof Error ? err : new Error(String(err)));
      return false;
    }
    this.#notify();
    return this.#queue.length === 0;
  }

  onClose(): void {
    this.#signal.removeEventListener('abort', this.#onAbort);
    if (!this.#isEnded && this.#error === undefined) {
      try {
        this.#parser.finish();
        this.#isEnded = true;
      } catch (err: unknown) {
        this.onError(err instanceof Error ? err : new Error(String(err)));
        return;
      }
    }
    this.#notify();
  }

  onError(err: Error): void {
    if (!this.#isEnded) {
      this.#error ??= err; // after the body's end, an error changes nothing
    }
    this.#rejectOpened(err); // no effect once the head has arrived
    this.#socket.destroy();
    this.#notify();
  }

  /**
   * The body is over: read to its end (`isDone`), stopped early, or failed. Only a connection
   * whose answer was framed and complete, and that its server does not close, carries another.
   */
  #end(isDone: boolean): void {
    this.#isOver = true;
    this.#signal.removeEventListener('abort', this.#onAbort);
    const isReusable =
      isDone &&
      this.#pool !== undefined &&
      this.#error === undefined &&
      this.#parser.isComplete &&
      !this.#parser.hasExtraBytes &&
      !this.#parser.isFramedByClose &&
      !/\bclose\b/i.test(this.#head?.headers.get('connection') ?? '') &&
      !this.#socket.destroyed;
    if (isReusable) {
      this.#pool?.give(this.#connection);
    } else {
      this.#socket.destroy();
    }
  }

  #response(head: ResponseHead): StreamedResponse {
    return {
      ...head,
      body: this,
      cancel: () => {
        if (this.#isOver) {
          return; // read to its end already: the connection may be another exchange's now
        }
        this.#isOver = true;
        this.#isEnded = true;
        this.#queue.length = 0;
        this.#signal.removeEventListener('abort', this.#onAbort);
        this.#socket.destroy();
        this.#notify();
      },
    };
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}

/** `GET` with `headers`, asking the server to keep the connection open or to close it. */
function requestHead(target: URL, headers: Record<string, string>, keepAlive: boolean): string {
  const lines = [`GET ${target.pathname}${target.search} HTTP/1.1`, `host: ${target.host}`];
  for (const [name, value] of Object.entries(headers)) {
    if (/[\r\n]/.test(name) || /[\r\n]/.test(value)) {
      throw new TypeError(`header ${JSON.stringify(name)} holds a line break`);
    }
    lines.push(`${name}: ${value}`);
  }
  lines.push(`connection: ${keepAlive ? 'keep-alive' : 'close'}`, '', '');
  return lines.join('\r\n');
}

// Made last: the classes they use are not hoisted.
/** The transport for clients whose `fetch` is the default one: one connection per body. */
export const openRawBody: BodyOpener = rawBodyOpener();

/** The transport for object stores: many GETs to one endpoint, on kept-alive connections. */
export const openKeptAliveBody: BodyOpener = rawBodyOpener({}, { keepAlive: true });
