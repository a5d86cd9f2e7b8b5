// The master's connection limits over real sockets: no client holds a connection forever, and
// no address holds more than its share.
import type { ErrorBody } from '@determined-ts/api';
import { afterEach, describe, expect, it } from 'vitest';

import { tempDir } from '../test/helpers.js';
import { completeResponses, rawConnect, waitForResponses } from '../test/raw-http.js';
import type { RawConnection } from '../test/raw-http.js';
import { loadConfig } from './config.js';
import { silentLogger } from './logger.js';
import { startMaster } from './server.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) {
    await cleanup();
  }
});

/** A master on a loopback port with these det-master flags; resolves with its port. */
async function start(flags: string[]): Promise<number> {
  const dir = await tempDir();
  cleanups.push(dir.cleanup);
  const config = loadConfig(['--port', '0', '--data-dir', dir.path, ...flags], {});
  if (config === 'help') {
    throw new Error('unexpected help');
  }
  const master = await startMaster(config, silentLogger);
  cleanups.push(() => master.close({ timeoutMs: 0 }));
  return Number(new URL(master.url).port);
}

async function connect(port: number, options?: { allowHalfOpen?: boolean }) {
  const conn = await rawConnect(port, options);
  cleanups.push(async () => {
    conn.socket.destroy();
    await conn.closed;
  });
  return conn;
}

const GET_MASTER = 'GET /api/v1/master HTTP/1.1\r\nHost: master\r\n\r\n';

/** Sends one keep-alive request and waits for its answer: the server has taken the connection. */
async function openAndUse(port: number): Promise<RawConnection> {
  const conn = await connect(port);
  conn.socket.write(GET_MASTER);
  expect((await waitForResponses(conn, 1))[0]?.status).toBe(200);
  return conn;
}

describe('the master HTTP server', () => {
  it('answers 408 to a client that sends its headers a byte at a time, and disconnects it', async () => {
    const port = await start(['--headers-timeout-ms', '500']);
    // Half-open allowed: the client never closes its side, so only the server can end this.
    const slowloris = await connect(port, { allowHalfOpen: true });
    const startedAt = Date.now();
    slowloris.socket.write('GET /api/v1/master HTTP/1.1\r\nHost: master\r\nX-Slow: ');
    const drip = setInterval(() => slowloris.socket.write('a'), 100);
    await slowloris.closed;
    clearInterval(drip);
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(500);
    const [answer] = completeResponses(slowloris.received());
    expect(answer?.status).toBe(408);
    expect((JSON.parse(answer?.body ?? '{}') as ErrorBody).error.reason).toBe('DeadlineExceeded');
  });

  it('closes a keep-alive connection left idle after its response', async () => {
    const port = await start(['--keep-alive-timeout-ms', '300']);
    const conn = await openAndUse(port);
    await conn.closed;
    expect(completeResponses(conn.received())).toHaveLength(1);
  });

  it('closes a connection whose request body stops arriving', async () => {
    const port = await start(['--idle-timeout-ms', '300', '--request-timeout-ms', '600000']);
    const conn = await connect(port);
    conn.socket.write(
      'POST /api/v1/auth/login HTTP/1.1\r\nHost: master\r\nContent-Length: 100\r\n\r\n{"user',
    );
    await conn.closed;
    expect(completeResponses(conn.received())).toEqual([]);
  });

  it('refuses a connection past the per-address cap with a 503, and takes one again after another closes', async () => {
    const port = await start(['--max-connections-per-address', '3']);
    const open = [await openAndUse(port), await openAndUse(port), await openAndUse(port)];

    // The fourth is answered before it sends anything, and closed; its request never runs.
    const fourth = await connect(port);
    await fourth.closed;
    const [refused] = completeResponses(fourth.received());
    expect(refused?.status).toBe(503);
    expect(refused?.headers.connection).toBe('close');
    const body = JSON.parse(refused?.body ?? '{}') as ErrorBody;
    expect(body.error).toMatchObject({ code: 14, reason: 'Unavailable' });
    expect(body.message).toMatch(/too many open connections from 127\.0\.0\.1 \(at most 3\)/);

    // The three still work.
    for (const conn of open) {
      conn.socket.write(GET_MASTER);
      expect((await waitForResponses(conn, 2))[1]?.status).toBe(200);
    }

    // Once one closes, a new connection is taken (the server sees the close a moment later).
    open[0]?.socket.end();
    await open[0]?.closed;
    let status: number | undefined;
    for (let attempt = 0; attempt < 50 && status !== 200; attempt += 1) {
      const conn = await connect(port);
      conn.socket.write(GET_MASTER);
      await conn.waitFor((text) => completeResponses(text).length > 0);
      status = completeResponses(conn.received())[0]?.status;
      expect([200, 503]).toContain(status);
    }
    expect(status).toBe(200);
  });
});
