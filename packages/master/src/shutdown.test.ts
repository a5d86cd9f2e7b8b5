// det-master as an operator runs it, stopped with SIGTERM or SIGINT: in-flight requests finish,
// idle connections close at once, nothing new is accepted, and what is still running at the
// shutdown bound is cut, so the process always exits 0.
import { afterEach, describe, expect, it } from 'vitest';

import { spawnMaster } from '../test/child-master.js';
import type { ChildMaster } from '../test/child-master.js';
import { tempDir } from '../test/helpers.js';
import { rawConnect, tryConnect, waitForResponses } from '../test/raw-http.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) {
    await cleanup();
  }
});

async function start(extra: string[]): Promise<{ master: ChildMaster; port: number }> {
  const dir = await tempDir();
  cleanups.push(dir.cleanup);
  const master = await spawnMaster(['--port', '0', '--data-dir', dir.path, ...extra]);
  cleanups.push(async () => {
    master.child.kill('SIGKILL');
    await master.exited;
  });
  return { master, port: Number(new URL(master.url).port) };
}

/** Headers of a login whose body is still to come: the master answers 100 once it is running. */
function loginHead(contentLength: number): string {
  return (
    'POST /api/v1/auth/login HTTP/1.1\r\nHost: master\r\nExpect: 100-continue\r\n' +
    `Content-Length: ${contentLength}\r\n\r\n`
  );
}

describe('det-master on SIGTERM', () => {
  it('finishes in-flight requests, closes idle connections, refuses new ones, cuts the rest at the bound and exits 0', async () => {
    const boundMs = 2000;
    const { master, port } = await start(['--shutdown-timeout-ms', String(boundMs)]);

    // An idle keep-alive connection: one request answered, the connection left open.
    const idle = await rawConnect(port);
    idle.socket.write('GET /api/v1/master HTTP/1.1\r\nHost: master\r\n\r\n');
    expect((await waitForResponses(idle, 1))[0]?.status).toBe(200);

    // Two uploads the master is running (it sent 100 Continue), each with part of its body.
    const body = JSON.stringify({ username: 'admin', password: '' });
    const fast = await rawConnect(port);
    fast.socket.write(loginHead(body.length) + body.slice(0, 5));
    const slow = await rawConnect(port);
    slow.socket.write(`${loginHead(10_000)}{"username":`);
    expect((await waitForResponses(fast, 1))[0]?.status).toBe(100);
    expect((await waitForResponses(slow, 1))[0]?.status).toBe(100);

    const signalledAt = Date.now();
    master.child.kill('SIGTERM');
    await master.waitForLine(/^det-master stopping \(SIGTERM\)/);
    // The listener is closed, and the idle connection goes at once, while uploads still run.
    expect(await tryConnect(port)).toBe('ECONNREFUSED');
    await idle.closed;

    // The fast upload completes and is answered; its connection then closes.
    fast.socket.write(body.slice(5));
    const [, answer] = await waitForResponses(fast, 2);
    expect(answer?.status).toBe(200);
    expect(answer?.headers.connection).toBe('close');
    expect(JSON.parse(answer?.body ?? '{}')).toHaveProperty('token');
    await fast.closed;

    // The slow upload never completes: it is cut at the bound, and the process exits 0.
    await slow.closed;
    const exit = await master.exited;
    const elapsedMs = Date.now() - signalledAt;
    expect(exit).toEqual({ code: 0, signal: null });
    expect(slow.received()).not.toMatch(/HTTP\/1\.1 [2-5]\d\d/);
    // It waited for the slow upload (timers never fire early), and not for much longer.
    expect(elapsedMs).toBeGreaterThanOrEqual(boundMs);
    expect(elapsedMs).toBeLessThan(boundMs + 20_000);
    expect(master.stderr()).toContain('shutdown cut requests still in flight at its bound');
  });

  it('exits 0 on SIGINT at once when nothing is in flight, however long the bound', async () => {
    // A bound past the test's own timeout: only an exit that does not wait for it passes.
    const { master } = await start(['--shutdown-timeout-ms', '600000']);
    const res = await fetch(`${master.url}/api/v1/master`); // leaves a keep-alive connection
    expect(res.status).toBe(200);
    await res.text();
    master.child.kill('SIGINT');
    expect(await master.exited).toEqual({ code: 0, signal: null });
  });
});
