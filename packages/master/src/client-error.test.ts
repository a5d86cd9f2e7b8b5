// Requests Node's HTTP layer refuses before any route sees them still get our JSON error body:
// headers too large (431) and a malformed request (400), over a real socket to a real master.
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { ErrorBody } from '@determined-ts/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { loadConfig } from './config.js';
import { silentLogger } from './logger.js';
import { startMaster } from './server.js';

let dir = '';
let master: Awaited<ReturnType<typeof startMaster>>;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'det-client-error-'));
  const config = loadConfig(['--port', '0', '--data-dir', dir], {});
  if (config === 'help') {
    throw new Error('loadConfig returned help');
  }
  master = await startMaster(config, silentLogger);
});

afterAll(async () => {
  await master?.close();
  await rm(dir, { recursive: true, force: true });
});

/** Sends `request` as raw bytes and resolves with everything the master sent until it closed. */
function rawExchange(request: string): Promise<string> {
  const { hostname, port } = new URL(master.url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => socket.write(request));
    let answer = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (answer += chunk));
    socket.on('close', () => resolve(answer));
    socket.on('error', reject);
  });
}

function parse(answer: string): { status: number; headers: string; body: ErrorBody } {
  const split = answer.indexOf('\r\n\r\n');
  const head = answer.slice(0, split);
  return {
    status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1]),
    headers: head.toLowerCase(),
    body: JSON.parse(answer.slice(split + 4)) as ErrorBody,
  };
}

describe('requests the HTTP layer refuses', () => {
  it('answers headers too large with a 431 in our error shape', async () => {
    const answer = parse(
      await rawExchange(
        `GET /api/v1/master HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(70_000)}\r\n\r\n`,
      ),
    );
    expect(answer.status).toBe(431);
    expect(answer.headers).toContain('content-type: application/json');
    expect(answer.body).toMatchObject({
      message: 'request headers are too large',
      error: { reason: 'ResourceExhausted', message: 'request headers are too large' },
    });
  });

  it('answers a malformed request with a 400 in our error shape, naming the fault', async () => {
    const answer = parse(await rawExchange('NOT AN HTTP REQUEST\r\n\r\n'));
    expect(answer.status).toBe(400);
    expect(answer.body.message).toMatch(/^malformed HTTP request \(HPE_[A-Z_]+\)$/);
    expect(answer.body.error).toMatchObject({ code: 3, reason: 'InvalidArgument' });
  });

  it('still serves well-formed requests', async () => {
    const res = await fetch(`${master.url}/api/v1/master`);
    expect(res.status).toBe(200);
  });
});
