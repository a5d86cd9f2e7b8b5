// A TCP proxy on loopback, in front of a master or an object store, that injects network faults
// into the responses of its first connections and records what passed: the tests' bad network.
import { connect, createServer } from 'node:net';
import type { AddressInfo, Socket } from 'node:net';

/** What goes wrong on a faulty connection (one of these). */
export interface Fault {
  /** Reset the connection (RST) once this many response bytes would have passed. */
  cutAfter?: number;
  /** Close it cleanly (FIN) after this many response bytes. */
  endAfter?: number;
  /** Stop passing the response on after this many bytes (0: not even its head), connection open. */
  stallAfter?: number;
  /** Flip the response body's byte at this offset (once the head has passed). */
  flipAt?: number;
  /**
   * Answer the request itself with `503 Slow Down` (an S3 `SlowDown` error, `Connection: close`)
   * without ever contacting the target: a throttling burst in front of any server.
   */
  status503?: boolean;
  /**
   * Answer the request itself with `403 Forbidden` (an `AccessDenied` error, `Connection: close`)
   * without contacting the target: a store refusing a signature or an expired URL.
   */
  status403?: boolean;
  /** Runs when the cut, end, stall, 503 or 403 happens, before the client can see it. */
  onFault?: () => void;
}

/** The answers the proxy makes itself: status line and S3-style error code and message. */
const REFUSALS = {
  503: ['503 Slow Down', 'SlowDown', 'Please reduce your request rate.'],
  403: ['403 Forbidden', 'AccessDenied', 'Access Denied'],
} as const;

/** Reads the request head, then answers with `status` and closes; the rest of the request is dropped. */
function answerRefusal(
  client: Socket,
  exchange: Exchange,
  onFault: (() => void) | undefined,
  status: keyof typeof REFUSALS,
): void {
  const [statusLine, code, message] = REFUSALS[status];
  const body =
    `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code>` +
    `<Message>${message}</Message><RequestId>FAULTPROXY</RequestId></Error>`;
  const head =
    `HTTP/1.1 ${statusLine}\r\nContent-Type: application/xml\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n`;
  let request = Buffer.alloc(0);
  client.on('data', (chunk: Buffer) => {
    if (exchange.requestHeaders !== undefined) {
      return;
    }
    request = Buffer.concat([request, chunk]);
    exchange.requestHeaders = parseHeaders(request);
    if (exchange.requestHeaders !== undefined) {
      onFault?.();
      exchange.status = status;
      exchange.headBytes = head.length;
      exchange.bytes = head.length + Buffer.byteLength(body);
      client.end(head + body);
    }
  });
  client.on('error', () => client.destroy());
}

/** One connection's request and response, as far as they went. */
export interface Exchange {
  /** The request's headers (lower-case names), once its head has arrived. */
  requestHeaders: Headers | undefined;
  /** The response's status, once its head has passed. */
  status: number | undefined;
  /** The length of the response head, once it has passed. */
  headBytes: number | undefined;
  /** Response bytes passed to the client, head included. */
  bytes: number;
}

export interface FaultProxy {
  url: string;
  /** Every connection so far, in order. */
  exchanges: Exchange[];
  close(): Promise<void>;
}

/** Listens on 127.0.0.1 and forwards to `target`; the first `times` connections get `fault`. */
export async function startFaultProxy(
  target: string,
  fault: Fault & { times: number },
): Promise<FaultProxy> {
  const { hostname, port } = new URL(target);
  const exchanges: Exchange[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const exchange: Exchange = {
      requestHeaders: undefined,
      status: undefined,
      headBytes: undefined,
      bytes: 0,
    };
    exchanges.push(exchange);
    const isFaulty = exchanges.length <= fault.times;
    sockets.add(client);
    if (isFaulty && (fault.status503 === true || fault.status403 === true)) {
      answerRefusal(client, exchange, fault.onFault, fault.status503 === true ? 503 : 403);
      return;
    }
    const upstream = connect(Number(port), hostname);
    sockets.add(upstream);
    let request = Buffer.alloc(0);
    client.on('data', (chunk: Buffer) => {
      if (exchange.requestHeaders === undefined) {
        request = Buffer.concat([request, chunk]);
        exchange.requestHeaders = parseHeaders(request);
      }
      upstream.write(chunk);
    });
    let head = Buffer.alloc(0);
    let isStalled = false;
    const pass = (bytes: Buffer): void => {
      if (exchange.headBytes === undefined) {
        head = Buffer.concat([head, bytes]);
        const end = head.indexOf('\r\n\r\n');
        if (end >= 0) {
          exchange.headBytes = end + 4;
          exchange.status = Number(head.toString('latin1', 9, 12)); // HTTP/1.1 200 OK
        }
      }
      exchange.bytes += bytes.length;
      client.write(bytes);
    };
    upstream.on('data', (chunk: Buffer) => {
      if (isStalled) {
        return;
      }
      const offset = exchange.bytes;
      if (isFaulty && fault.flipAt !== undefined && exchange.headBytes !== undefined) {
        const at = exchange.headBytes + fault.flipAt - offset;
        if (at >= 0 && at < chunk.length) {
          chunk.writeUInt8(chunk.readUInt8(at) ^ 0xff, at);
        }
      }
      const limit = isFaulty ? (fault.cutAfter ?? fault.endAfter ?? fault.stallAfter) : undefined;
      if (limit === undefined || offset + chunk.length <= limit) {
        pass(chunk);
        return;
      }
      fault.onFault?.();
      if (fault.cutAfter !== undefined) {
        client.resetAndDestroy(); // what is in flight is lost, as with a real reset
        upstream.destroy();
        return;
      }
      pass(chunk.subarray(0, limit - offset));
      if (fault.endAfter !== undefined) {
        client.end();
        upstream.destroy();
      } else {
        isStalled = true;
      }
    });
    upstream.on('end', () => {
      if (!isStalled) {
        client.end();
      }
    });
    const drop = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop);
    client.on('close', drop);
    upstream.on('error', drop);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port: proxyPort } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${proxyPort}`,
    exchanges,
    close: async () => {
      for (const s of sockets) {
        s.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** The headers of a request head, once all of it is in `bytes`. */
function parseHeaders(bytes: Buffer): Headers | undefined {
  const end = bytes.indexOf('\r\n\r\n');
  if (end < 0) {
    return undefined;
  }
  const headers = new Headers();
  for (const line of bytes.toString('latin1', 0, end).split('\r\n').slice(1)) {
    const colon = line.indexOf(':');
    headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
  }
  return headers;
}
