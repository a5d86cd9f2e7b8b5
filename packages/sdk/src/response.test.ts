import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { startHttpServer } from '../test/fake-determined.js';
import {
  NGINX_502,
  SSO_PAGE,
  startScriptedMaster,
  wireCheckpoint,
  wirePagination,
  wireTrial,
  wireUser,
} from '../test/scripted-master.js';
import type { ScriptedAnswer, ScriptedMaster } from '../test/scripted-master.js';
import {
  ApiError,
  Checkpoint,
  IntegrityError,
  NetworkError,
  TrialReference,
  UnexpectedResponseError,
  createClient,
  getCheckpoint,
  getCheckpointMarkers,
  getMasterInfo,
  getTrial,
  getTrialLogs,
  listCheckpoints,
  listExperiments,
  login,
  openSession,
} from './index.js';
import type { Client } from './index.js';

/*
 * A master that answers garbage, over a real socket, through the SDK's public calls: every
 * answer a call cannot use is an UnexpectedResponseError naming the call (never a TypeError, a
 * SyntaxError or a half-decoded value), and a download refuses a checkpoint whose own data is
 * unsafe before it writes or fetches anything.
 */

const UUID = '0f1e2d3c-0000-4000-8000-000000000001';

let master: ScriptedMaster;
let client: Client;
let dir: string;

beforeEach(async () => {
  master = await startScriptedMaster();
  client = createClient({ baseUrl: master.url, token: 'v2.public.t', retry: { attempts: 1 } });
  dir = await mkdtemp(join(tmpdir(), 'det-garbage-'));
});
afterEach(async () => {
  await master.close();
  await rm(dir, { recursive: true, force: true });
});

/** The error `promise` rejects with, checked to be an UnexpectedResponseError. */
async function unexpected(promise: Promise<unknown>): Promise<UnexpectedResponseError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(UnexpectedResponseError);
  return err as UnexpectedResponseError;
}

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) {
    out.push(item);
  }
  return out;
}

describe('a 2xx answer that is not JSON', () => {
  const trialJson = JSON.stringify({ trial: wireTrial(7) });
  const cases: [string, ScriptedAnswer, string | RegExp][] = [
    ['truncated JSON', { body: trialJson.slice(0, 40) }, 'truncated JSON (40 bytes)'],
    [
      'a proxy’s HTML sign-in page',
      { headers: { 'content-type': 'text/html; charset=utf-8' }, body: SSO_PAGE },
      "expected JSON, got text/html (a proxy's error page?): Sign in - Corp SSO",
    ],
    ['an empty body', { body: '' }, 'empty body, expected JSON'],
    [
      'plain text',
      { headers: { 'content-type': 'text/plain' }, body: 'OK\n' },
      'expected JSON, got text/plain: OK',
    ],
    ['garbage labelled JSON', { body: 'ok then' }, /^invalid JSON: Unexpected token/],
    ['a JSON array', { body: '[]' }, 'expected a JSON object, got an empty array'],
    ['JSON null', { body: 'null' }, 'expected a JSON object, got null'],
  ];
  for (const [name, answer, problem] of cases) {
    it(`is an UnexpectedResponseError naming the call for ${name}`, async () => {
      master.answer('GET /api/v1/trials/7', answer);
      const err = await unexpected(getTrial(client, 7));
      expect(err.problem).toMatch(problem);
      expect(err).toMatchObject({
        name: 'UnexpectedResponseError',
        method: 'GET',
        path: '/api/v1/trials/7',
        url: `${master.url}/api/v1/trials/7`,
        status: 200,
        message: `GET /api/v1/trials/7: ${err.problem}`,
      });
      expect(err.bodySnippet.length).toBeLessThanOrEqual(200);
      expect(answer.body.replace(/\s+/g, ' ')).toContain(err.bodySnippet.replace(/…$/, ''));
    });
  }

  it('is a NetworkError when the connection drops in the middle of the body', async () => {
    const server = await startHttpServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '1000' });
      res.write(trialJson.slice(0, 20), () => res.socket?.destroy());
    });
    try {
      const dropped = createClient({ baseUrl: server.url, retry: { attempts: 1 } });
      const err = await getTrial(dropped, 7).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(NetworkError);
      expect((err as NetworkError).url).toBe(`${server.url}/api/v1/trials/7`);
    } finally {
      await server.close();
    }
  });
});

describe('a 2xx answer of the wrong shape', () => {
  const checkpoint = (overrides: Record<string, unknown>) => ({
    checkpoint: wireCheckpoint(UUID, 7, overrides),
  });
  const cases: [string, string, unknown, (c: Client) => Promise<unknown>, string][] = [
    [
      'a string for a trial id',
      'GET /api/v1/trials/7',
      { trial: { ...wireTrial(7), id: 'seven' } },
      (c) => getTrial(c, 7),
      'field trial.id: expected an integer, got "seven"',
    ],
    [
      'an array for the trial',
      'GET /api/v1/trials/7',
      { trial: [] },
      (c) => getTrial(c, 7),
      'field trial: expected an object, got an empty array',
    ],
    [
      'no trial at all',
      'GET /api/v1/trials/7',
      {},
      (c) => getTrial(c, 7),
      'field trial: missing (expected an object)',
    ],
    [
      'a checkpoint without its uuid',
      `GET /api/v1/checkpoints/${UUID}`,
      checkpoint({ uuid: undefined }),
      (c) => getCheckpoint(c, UUID),
      'field checkpoint.uuid: missing (expected a UUID)',
    ],
    [
      'a checkpoint uuid that is a path',
      `GET /api/v1/checkpoints/${UUID}`,
      checkpoint({ uuid: '../../home' }),
      (c) => getCheckpoint(c, UUID),
      'field checkpoint.uuid: expected a UUID, got "../../home"',
    ],
    [
      'a checkpoint without its resources map',
      `GET /api/v1/checkpoints/${UUID}`,
      checkpoint({ resources: undefined }),
      (c) => getCheckpoint(c, UUID),
      'field checkpoint.resources: missing (expected an object)',
    ],
    [
      'a size that is not a number',
      `GET /api/v1/checkpoints/${UUID}`,
      checkpoint({ resources: { 'w.bin': 'lots' } }),
      (c) => getCheckpoint(c, UUID),
      'field checkpoint.resources[w.bin]: expected an integer, got "lots"',
    ],
    [
      'an object for the experiments list',
      'GET /api/v1/experiments',
      { experiments: {}, pagination: wirePagination(0) },
      (c) => listExperiments(c),
      'field experiments: expected an array, got an object',
    ],
    [
      'a number for the master version',
      'GET /api/v1/master',
      { version: 3 },
      (c) => getMasterInfo(c),
      'field version: expected a string, got 3',
    ],
    [
      'a marker count that is not a number',
      'GET /api/v1/trials/7/checkpoint-markers',
      { markers: [], total: 'many' },
      (c) => getCheckpointMarkers(c, 7),
      'field total: expected an integer, got "many"',
    ],
    [
      'a login without a token',
      'POST /api/v1/auth/login',
      { token: '', user: wireUser() },
      (c) => login(c, 'determined', ''),
      'field token: expected a non-empty string, got ""',
    ],
  ];
  for (const [name, route, body, call, problem] of cases) {
    it(`names the call and the field for ${name}`, async () => {
      master.answer(route, body);
      const err = await unexpected(call(client));
      const [method, path] = route.split(' ');
      expect(err).toMatchObject({ method, path, status: 200, problem });
      expect(err.message).toBe(`${route}: ${problem}`);
      // The decoder's own error stays as the cause.
      expect(err.cause).toBeInstanceOf(TypeError);
    });
  }

  it('names the row of a listing, on whichever page it comes', async () => {
    const good = wireCheckpoint(UUID, 7);
    const bad = wireCheckpoint(UUID.replace(/1$/, '2'), 7, { reportTime: 'yesterday' });
    master.answer('GET /api/v1/trials/7/checkpoints', {
      checkpoints: [good, bad],
      pagination: wirePagination(2),
    });
    const err = await unexpected(collect(listCheckpoints(client, { trialId: 7 })));
    expect(err.message).toBe(
      'GET /api/v1/trials/7/checkpoints: field checkpoints[1].reportTime: expected an RFC 3339 timestamp, got "yesterday"',
    );
    expect(err.url).toMatch(/\/api\/v1\/trials\/7\/checkpoints\?.*offset=0/);
  });
});

describe('a 2xx answer whose body is an error', () => {
  const cases: [string, unknown, string][] = [
    [
      'grpc-gateway’s shape',
      { error: { code: 5, reason: 'NotFound', error: "trial '7' not found" } },
      "200 with an error body: trial '7' not found",
    ],
    [
      'a gRPC status',
      { code: 13, message: 'pq: connection refused', details: [] },
      '200 with an error body: pq: connection refused',
    ],
    [
      'our master’s shape',
      { message: 'draining', error: { code: 14, reason: 'Unavailable', error: 'draining' } },
      '200 with an error body: draining',
    ],
  ];
  for (const [name, body, problem] of cases) {
    it(`is an UnexpectedResponseError, not a value, for ${name}`, async () => {
      master.answer('GET /api/v1/trials/7', body);
      const err = await unexpected(getTrial(client, 7));
      expect(err.message).toBe(`GET /api/v1/trials/7: ${problem}`);
    });
  }

  it('accepts answers that merely have a message among their fields', async () => {
    master.answer('GET /api/v1/master', { version: '0.38.1', message: 'hello', clusterName: 'c' });
    await expect(getMasterInfo(client)).resolves.toMatchObject({ version: '0.38.1' });
  });
});

describe('a non-2xx answer from a proxy', () => {
  it('is an ApiError whose message names the page, not its 1,000 characters of HTML', async () => {
    master.answer('GET /api/v1/trials/7', {
      status: 502,
      headers: { 'content-type': 'text/html' },
      body: NGINX_502,
    });
    const err = await getTrial(client, 7).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({
      status: 502,
      body: NGINX_502,
      message:
        "GET /api/v1/trials/7: 502 internal: expected JSON, got text/html (a proxy's error page?): 502 Bad Gateway",
    });
  });
});

describe('a stream with a bad line', () => {
  const line = (n: number): string =>
    JSON.stringify({
      result: { id: String(n), trialId: 7, timestamp: '2025-01-01T00:00:00Z', log: `line ${n}\n` },
    });
  const cases: [string, string, string | RegExp][] = [
    ['garbage', `${line(1)}\nnot json\n${line(3)}\n`, /^stream line 2: invalid JSON: /],
    [
      'an error line',
      `${line(1)}\n${JSON.stringify({ error: { grpcCode: 5, httpCode: 404, message: 'trial 7 is gone', httpStatus: 'Not Found', details: [] } })}\n`,
      'stream error: trial 7 is gone',
    ],
    [
      'a line without its result',
      `${JSON.stringify({ lines: [] })}\n`,
      'stream line 1: expected {"result": …}, got keys lines',
    ],
    [
      'a truncated last line',
      `${line(1)}\n${line(2).slice(0, 30)}`,
      'stream line 2: truncated JSON (30 bytes)',
    ],
    [
      'a bad field',
      `${line(1).replace('2025-01-01T00:00:00Z', 'never')}\n`,
      'stream line 1: field log.timestamp: expected an RFC 3339 timestamp, got "never"',
    ],
    [
      'a proxy’s page',
      SSO_PAGE,
      "stream line 1: expected JSON, got text/html (a proxy's error page?): Sign in - Corp SSO",
    ],
  ];
  for (const [name, body, problem] of cases) {
    it(`is an UnexpectedResponseError naming the call for ${name}`, async () => {
      const html = body.startsWith('<');
      master.answer('GET /api/v1/trials/7/logs', {
        headers: { 'content-type': html ? 'text/html' : 'application/json' },
        body,
      });
      const err = await unexpected(getTrialLogs(client, 7));
      expect(err.problem).toMatch(problem);
      expect(err).toMatchObject({ method: 'GET', path: '/api/v1/trials/7/logs', status: 200 });
      expect(err.message).toBe(`GET /api/v1/trials/7/logs: ${err.problem}`);
    });
  }

  it('still yields the good lines of a good stream', async () => {
    master.answer('GET /api/v1/trials/7/logs', { body: `${line(1)}\n\n${line(2)}` });
    const lines = await getTrialLogs(client, 7);
    expect(lines.map((l) => l.message)).toEqual(['line 1\n', 'line 2\n']);
  });
});

describe('picking a checkpoint from a bad master', () => {
  it('signing in through a proxy’s page is an UnexpectedResponseError for the login', async () => {
    master.answer('POST /api/v1/auth/login', {
      headers: { 'content-type': 'text/html' },
      body: SSO_PAGE,
    });
    const err = await unexpected(
      openSession({
        master: master.url,
        env: { DET_DEBUG_CONFIG_PATH: dir },
        retry: { attempts: 1 },
      }),
    );
    expect(err.message).toBe(
      "POST /api/v1/auth/login: expected JSON, got text/html (a proxy's error page?): Sign in - Corp SSO",
    );
    expect(master.seen).toEqual(['POST /api/v1/auth/login']);
  });

  it('best: a listing row with a bad state names the row and the call', async () => {
    master.answer('GET /api/v1/master', { version: '0.38.1' });
    master.answer('GET /api/v1/trials/7/checkpoints', {
      checkpoints: [wireCheckpoint(UUID, 7, { state: 'COMPLETED' })],
      pagination: wirePagination(1),
    });
    const trial = new TrialReference(7, { client });
    const err = await unexpected(trial.topCheckpoint({ sortBy: 'loss', smallerIsBetter: true }));
    expect(err.message).toBe(
      'GET /api/v1/trials/7/checkpoints: field checkpoints[0].state: expected a STATE_ value, got "COMPLETED"',
    );
  });

  it('uuid: a checkpoint with a size that is not a number is refused before any download', async () => {
    master.answer(`GET /api/v1/checkpoints/${UUID}`, {
      checkpoint: wireCheckpoint(UUID, 7, { resources: { 'w.bin': '4 bytes' } }),
    });
    const trial = new TrialReference(7, { client });
    const err = await unexpected(trial.selectCheckpoint({ uuid: UUID }));
    expect(err.problem).toBe(
      'field checkpoint.resources[w.bin]: expected an integer, got "4 bytes"',
    );
    expect(master.seen).toEqual([`GET /api/v1/checkpoints/${UUID}`]);
  });
});

describe('downloading a checkpoint whose resources are unsafe', () => {
  const cases: [string, Record<string, string>, RegExp][] = [
    ['a ../ path', { '../x': '3' }, /refusing path "\.\.\/x": it contains '\.\.'/],
    ['a nested ../ path', { 'a/../../x': '3' }, /refusing path "a\/\.\.\/\.\.\/x"/],
    [
      'an absolute path',
      { '/etc/cron.d/x': '3' },
      /refusing path "\/etc\/cron\.d\/x": it is absolute/,
    ],
    ['a backslash path', { '..\\x': '3' }, /it contains a backslash/],
    ['a negative size', { 'w.bin': '-4' }, /resource w\.bin has an invalid size -4/],
  ];
  for (const [name, resources, message] of cases) {
    it(`refuses ${name} with an IntegrityError, writing and fetching nothing`, async () => {
      master.answer(`GET /api/v1/checkpoints/${UUID}`, {
        checkpoint: wireCheckpoint(UUID, 7, { resources }),
      });
      const found = new Checkpoint(await getCheckpoint(client, UUID), client);
      const target = join(dir, 'out');
      const err = await found.download(target, { mode: 'master' }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(IntegrityError);
      expect((err as Error).message).toMatch(new RegExp(`^checkpoint ${UUID}: `));
      expect((err as Error).message).toMatch(message);
      expect(await readdir(dir)).toEqual([]);
      expect(master.seen).toEqual([`GET /api/v1/checkpoints/${UUID}`]);
    });
  }

  it('refuses a checkpoint uuid that is a path, even from a JS caller', async () => {
    master.answer(`GET /api/v1/checkpoints/${UUID}`, { checkpoint: wireCheckpoint(UUID, 7) });
    const data = await getCheckpoint(client, UUID);
    const forged = new Checkpoint({ ...data, uuid: '../escape' }, client);
    const err = await forged
      .download(join(dir, 'out'), { mode: 'master' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IntegrityError);
    expect((err as Error).message).toBe(
      'refusing checkpoint uuid "../escape": it is not a plain name',
    );
    expect(await readdir(dir)).toEqual([]);
  });
});
