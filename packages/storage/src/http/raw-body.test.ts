import { createServer as createHttpServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:net';
import type { AddressInfo, Socket } from 'node:net';

import { afterEach, describe, expect, it } from 'vitest';

import { startHttpServer } from '../../test/http-server.js';
import type { TestServer } from '../../test/http-server.js';
import type { StreamedResponse } from '../common.js';
import { openRawBody, rawBodyOpener } from './raw-body.js';
import { ResponseParser, parseContentRange } from './response-parser.js';

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
});

/** Reads a body to its end, copying each chunk (they are views of a reused buffer). */
async function readAll(res: StreamedResponse): Promise<string> {
  const parts: Buffer[] = [];
  for await (const chunk of res.body) {
    parts.push(Buffer.from(chunk));
  }
  return Buffer.concat(parts).toString();
}

/** A TCP server that answers every connection with `reply` (raw bytes, then what it does). */
async function rawServer(reply: (socket: Socket) => void): Promise<{ url: string }> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.once('data', () => reply(socket));
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(async () => {
    for (const s of sockets) {
      s.destroy();
    }
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

async function httpServer(handler: Parameters<typeof startHttpServer>[0]): Promise<TestServer> {
  const server = await startHttpServer(handler);
  closers.push(() => server.close());
  return server;
}

const open = (url: string, signal = new AbortController().signal): Promise<StreamedResponse> =>
  openRawBody(url, { headers: { 'x-test': 'yes' }, signal });

describe('openRawBody', () => {
  it('sends the request headers and asks to close the connection', async () => {
    let seen: Record<string, string | string[] | undefined> = {};
    const server = await httpServer((req, res) => {
      seen = req.headers;
      res.end('ok');
    });
    const res = await open(`${server.url}/path?q=1`);
    expect(await readAll(res)).toBe('ok');
    expect(seen).toMatchObject({ 'x-test': 'yes', connection: 'close' });
    expect(seen.host).toBe(new URL(server.url).host);
  });

  it('reads a chunked body written in pieces', async () => {
    const server = await httpServer(async (_req, res) => {
      for (const piece of ['one ', 'two ', 'x'.repeat(100_000), ' three']) {
        res.write(piece);
        await new Promise((resolve) => setImmediate(resolve));
      }
      res.end();
    });
    const res = await open(server.url);
    expect(res.headers.get('transfer-encoding')).toBe('chunked');
    expect(await readAll(res)).toBe(`one two ${'x'.repeat(100_000)} three`);
  });

  it('reads a body that ends with the connection, after an informational response', async () => {
    const server = await rawServer((socket) => {
      socket.end('HTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\nHTTP/1.1 200 OK\r\n\r\nto the end');
    });
    const res = await open(server.url);
    expect(res.status).toBe(200);
    expect(await readAll(res)).toBe('to the end');
  });

  it('fails the body when the connection closes before Content-Length bytes', async () => {
    const server = await rawServer((socket) => {
      socket.end('HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly half');
    });
    const res = await open(server.url);
    await expect(readAll(res)).rejects.toMatchObject({ code: 'ECONNRESET' });
  });

  it('fails to open when the connection closes before a response', async () => {
    const server = await rawServer((socket) => socket.end());
    await expect(open(server.url)).rejects.toThrow(/before a response/);
  });

  it('stops a stalled body when aborted, and ends it when cancelled', async () => {
    const server = await rawServer((socket) => {
      socket.write('HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\nfirst'); // then nothing
    });
    const abort = new AbortController();
    const res = await open(server.url, abort.signal);
    const reading = readAll(res);
    setTimeout(() => abort.abort(new Error('stopped by the caller')), 20);
    await expect(reading).rejects.toThrow('stopped by the caller');

    const again = await open(server.url);
    const chunks = again.body[Symbol.asyncIterator]();
    expect(Buffer.from((await chunks.next()).value as Uint8Array).toString()).toBe('first');
    const pending = chunks.next();
    setTimeout(() => again.cancel(), 20);
    await expect(pending).resolves.toMatchObject({ done: true });
  });

  it('refuses other protocols and header values with line breaks', async () => {
    await expect(open('ftp://example.test/x')).rejects.toThrow(/only http and https/);
    await expect(
      openRawBody('http://127.0.0.1:9/', {
        headers: { authorization: 'Bearer x\r\nevil: 1' },
        signal: new AbortController().signal,
      }),
    ).rejects.toThrow(/line break/);
  });
});

describe('ResponseParser', () => {
  const feed = (parser: ResponseParser, text: string, pieceBytes: number): string => {
    const bytes = Buffer.from(text);
    let body = '';
    for (let at = 0; at < bytes.length; at += pieceBytes) {
      for (const piece of parser.push(bytes.subarray(at, at + pieceBytes))) {
        body += Buffer.from(piece).toString();
      }
    }
    return body;
  };

  it('frames a body by Content-Length, whatever the piece size', () => {
    for (const piece of [1, 3, 1000]) {
      const parser = new ResponseParser();
      const response = 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: 1\r\n\r\nhello';
      expect(feed(parser, response, piece)).toBe('hello');
      expect(parser.head?.headers.get('x-a')).toBe('1');
      expect(parser.isComplete).toBe(true);
      expect(() => parser.finish()).not.toThrow();
    }
  });

  it('decodes chunked bodies with extensions and trailers', () => {
    for (const piece of [1, 2, 7, 1000]) {
      const parser = new ResponseParser();
      const response =
        'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n' +
        '5;ext=1\r\nhello\r\nA\r\n, chunked!\r\n0\r\nx-trailer: t\r\n\r\n';
      expect(feed(parser, response, piece)).toBe('hello, chunked!');
      expect(parser.isComplete).toBe(true);
    }
  });

  it('refuses malformed responses', () => {
    const bad = [
      'HTTP/2 200 OK\r\n\r\n',
      'HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\n',
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n',
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n',
      'HTTP/1.1 200 OK\r\n folded: header\r\n\r\n',
    ];
    for (const response of bad) {
      expect(() => new ResponseParser().push(Buffer.from(response)), response).toThrow(
        expect.objectContaining({ code: 'HPE_INVALID' }) as Error,
      );
    }
  });

  it('says a response cut short is incomplete, and one framed by the close is not', () => {
    const short = new ResponseParser();
    short.push(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc'));
    expect(() => short.finish()).toThrow(/before the response ended/);
    const chunked = new ResponseParser();
    chunked.push(Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc'));
    expect(() => chunked.finish()).toThrow(/before the response ended/);
    const byClose = new ResponseParser();
    byClose.push(Buffer.from('HTTP/1.1 200 OK\r\n\r\nabc'));
    expect(() => byClose.finish()).not.toThrow();
    expect(() => new ResponseParser().finish()).toThrow(/before a response/);
  });
});

describe('parseContentRange', () => {
  it('reads a satisfied byte range, its length known or not', () => {
    expect(parseContentRange('bytes 100-199/1000')).toEqual({
      first: 100,
      last: 199,
      length: 1000,
    });
    expect(parseContentRange('Bytes 0-0/*')).toEqual({ first: 0, last: 0, length: undefined });
  });

  it('refuses what is not one: absent, unsatisfied, reversed or past the length', () => {
    for (const value of [
      null,
      '',
      'bytes */1000',
      'bytes 200-100/1000',
      'bytes 0-1000/1000',
      'items 0-1/2',
    ]) {
      expect(parseContentRange(value), String(value)).toBeUndefined();
    }
  });
});

/** An HTTP/1.1 server (keep-alive on) that counts the connections it was opened. */
async function countingServer(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
  { keepAliveTimeoutMs = 5000 }: { keepAliveTimeoutMs?: number } = {},
): Promise<{
  url: string;
  connections: () => number;
  requests: () => number;
  dropConnections: () => void;
}> {
  let connections = 0;
  let requests = 0;
  const sockets = new Set<Socket>();
  const server = createHttpServer((req, res) => {
    requests += 1;
    handler(req, res);
  });
  server.keepAliveTimeout = keepAliveTimeoutMs;
  server.on('connection', (socket: Socket) => {
    connections += 1;
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    connections: () => connections,
    requests: () => requests,
    dropConnections: () => {
      for (const socket of sockets) {
        socket.destroy();
      }
    },
  };
}

describe('rawBodyOpener with keepAlive', () => {
  const never = new AbortController().signal;

  it('carries GETs read to their end on one connection, framed by length or chunks', async () => {
    const server = await countingServer((req, res) => {
      if (req.url === '/chunked') {
        res.write('a');
        res.end('b');
      } else {
        res.setHeader('content-length', '2');
        res.end('ok');
      }
    });
    const get = rawBodyOpener({}, { keepAlive: true });
    for (const path of ['/one', '/chunked', '/two', '/chunked', '/three']) {
      const res = await get(`${server.url}${path}`, { headers: {}, signal: never });
      expect(await readAll(res)).toBe(path === '/chunked' ? 'ab' : 'ok');
    }
    expect(server.requests()).toBe(5);
    expect(server.connections()).toBe(1);
  });

  it('opens a new connection after a body stopped early, or an answer that says close', async () => {
    const server = await countingServer((req, res) => {
      if (req.url === '/close') {
        res.setHeader('connection', 'close');
      }
      res.setHeader('content-length', '6');
      res.end('abcdef');
    });
    const get = rawBodyOpener({}, { keepAlive: true });
    const first = await get(`${server.url}/a`, { headers: {}, signal: never });
    first.cancel(); // not read: its connection cannot be trusted with another answer
    expect(await readAll(await get(`${server.url}/close`, { headers: {}, signal: never }))).toBe(
      'abcdef',
    );
    expect(await readAll(await get(`${server.url}/b`, { headers: {}, signal: never }))).toBe(
      'abcdef',
    );
    expect(server.connections()).toBe(3);
  });

  it('opens a new connection when the server closed the idle one', async () => {
    const server = await countingServer((_req, res) => {
      res.setHeader('content-length', '2');
      res.end('ok');
    });
    const get = rawBodyOpener({}, { keepAlive: true });
    expect(await readAll(await get(`${server.url}/a`, { headers: {}, signal: never }))).toBe('ok');
    server.dropConnections(); // as a server does with connections idle past its timeout
    expect(await readAll(await get(`${server.url}/b`, { headers: {}, signal: never }))).toBe('ok');
    expect(await readAll(await get(`${server.url}/c`, { headers: {}, signal: never }))).toBe('ok');
    expect(server.requests()).toBe(3);
    expect(server.connections()).toBe(2);
  });

  it('asks to keep the connection open only when keeping it', async () => {
    const seen: (string | undefined)[] = [];
    const server = await countingServer((req, res) => {
      seen.push(req.headers.connection);
      res.end('');
    });
    await readAll(
      await rawBodyOpener({}, { keepAlive: true })(server.url, { headers: {}, signal: never }),
    );
    await readAll(await openRawBody(server.url, { headers: {}, signal: never }));
    expect(seen).toEqual(['keep-alive', 'close']);
  });
});
