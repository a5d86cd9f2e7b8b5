import type { IncomingMessage } from 'node:http';

import { afterEach, describe, expect, it, vi } from 'vitest';

import { FakeDetermined, readBody, startHttpServer } from '../test/fake-determined.js';
import type { TestServer } from '../test/fake-determined.js';
import { startInProcessMaster } from '../test/master.js';
import { buildUrl, createClient } from './client.js';
import type { FetchLike } from './client.js';
import { ApiError, NetworkError } from './errors.js';

/*
 * The client over real loopback sockets: a server that fails the first requests in a planned
 * way (a status, a reset connection, or no answer at all), then answers `{"ok":true}`.
 */

type Step =
  number | 'reset' | 'stall' | { status: number; body: string; headers?: Record<string, string> };

interface Flaky {
  url: string;
  /** Every request the server received, in order. */
  seen: { method: string; url: string; headers: IncomingMessage['headers']; body: string }[];
  /** Resolves when the `n`th request (1-based) has arrived. */
  arrived(n: number): Promise<void>;
}

const servers: TestServer[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function flaky(plan: Step[]): Promise<Flaky> {
  const seen: Flaky['seen'] = [];
  const waiters: { n: number; resolve: () => void }[] = [];
  const server = await startHttpServer(async (req, res) => {
    const body = (await readBody(req)).toString();
    seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
    for (const w of waiters.filter((x) => x.n <= seen.length)) {
      w.resolve();
    }
    const step = plan.shift();
    if (step === undefined) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"ok":true}');
    } else if (step === 'reset') {
      req.socket.destroy();
    } else if (step === 'stall') {
      // No answer; the test aborts, or afterEach drops the connection.
    } else if (typeof step === 'number') {
      res.writeHead(step, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({ error: { code: 14, reason: 'Unavailable', error: `status ${step}` } }),
      );
    } else {
      res.writeHead(step.status, step.headers ?? {});
      res.end(step.body);
    }
  });
  servers.push(server);
  return {
    url: server.url,
    seen,
    arrived: (n) =>
      n <= seen.length ? Promise.resolve() : new Promise((resolve) => waiters.push({ n, resolve })),
  };
}

const noWait = { baseDelayMs: 0 };

describe('createClient retries', () => {
  for (const status of [502, 503, 504]) {
    it(`retries a GET answered ${status}, then returns the answer`, async () => {
      const server = await flaky([status, status]);
      const client = createClient({ baseUrl: server.url, retry: noWait });
      await expect(client.request('GET', '/api/v1/master')).resolves.toEqual({ ok: true });
      expect(server.seen).toHaveLength(3);
    });
  }

  it('retries a GET whose connection was reset', async () => {
    const server = await flaky(['reset', 'reset']);
    const client = createClient({ baseUrl: server.url, retry: noWait });
    await expect(client.request('GET', '/api/v1/master')).resolves.toEqual({ ok: true });
    expect(server.seen).toHaveLength(3);
  });

  it('retries PUT and DELETE, which are idempotent', async () => {
    const server = await flaky([503, { status: 200, body: '{}' }, 'reset']);
    const client = createClient({ baseUrl: server.url, retry: noWait });
    await client.request('PUT', '/api/v1/trials', { body: { a: 1 } });
    await client.request('DELETE', '/api/v1/checkpoints', { body: { checkpointUuids: [] } });
    expect(server.seen.map((r) => r.method)).toEqual(['PUT', 'PUT', 'DELETE', 'DELETE']);
    // A retry repeats the body.
    expect(server.seen[1]?.body).toBe('{"a":1}');
  });

  it('gives up after `attempts` with the last status as an ApiError', async () => {
    const server = await flaky([503, 503, 503, 503]);
    const client = createClient({ baseUrl: server.url, retry: { ...noWait, attempts: 3 } });
    const err = await client.request('GET', '/api/v1/master').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).status).toBe(503);
    expect(server.seen).toHaveLength(3);
  });

  it('gives up after `attempts` resets with a NetworkError that keeps the cause', async () => {
    const server = await flaky(['reset', 'reset', 'reset']);
    const client = createClient({ baseUrl: server.url, retry: { ...noWait, attempts: 2 } });
    const err = await client.request('GET', '/api/v1/master').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NetworkError);
    expect((err as NetworkError).url).toBe(`${server.url}/api/v1/master`);
    expect((err as NetworkError).cause).toBeInstanceOf(Error);
    expect(server.seen).toHaveLength(2);
  });

  it('never retries other statuses (500, 404, 400)', async () => {
    for (const status of [500, 404, 400]) {
      const server = await flaky([status]);
      const client = createClient({ baseUrl: server.url, retry: noWait });
      await expect(client.request('GET', '/x')).rejects.toMatchObject({ status });
      expect(server.seen).toHaveLength(1);
    }
  });

  it('does not retry a POST answered 503', async () => {
    const server = await flaky([503]);
    const client = createClient({ baseUrl: server.url, retry: noWait });
    await expect(
      client.request('POST', '/api/v1/trials/1/metrics', { body: {} }),
    ).rejects.toMatchObject({
      status: 503,
    });
    expect(server.seen).toHaveLength(1);
  });

  it('does not retry a POST whose connection was reset', async () => {
    const server = await flaky(['reset']);
    const client = createClient({ baseUrl: server.url, retry: noWait });
    await expect(
      client.request('POST', '/api/v1/checkpoints', { body: {} }),
    ).rejects.toBeInstanceOf(NetworkError);
    expect(server.seen).toHaveLength(1);
  });

  it('retries a POST marked idempotent', async () => {
    const server = await flaky([503, 'reset']);
    const client = createClient({ baseUrl: server.url, retry: noWait });
    await expect(
      client.request('POST', '/api/v1/checkpoints', { body: { uuid: 'u' }, idempotent: true }),
    ).resolves.toEqual({ ok: true });
    expect(server.seen.map((r) => r.body)).toEqual(Array(3).fill('{"uuid":"u"}'));
  });
});

describe('createClient aborts', () => {
  it('aborts a request the server has not answered, without retrying it', async () => {
    const server = await flaky(['stall']);
    const client = createClient({ baseUrl: server.url, retry: noWait });
    const ctrl = new AbortController();
    const pending = client.request('GET', '/api/v1/master', { signal: ctrl.signal });
    await server.arrived(1);
    ctrl.abort();
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
    expect(server.seen).toHaveLength(1);
  });

  it('rejects with the abort reason the caller gave', async () => {
    const server = await flaky(['stall']);
    const client = createClient({ baseUrl: server.url });
    const ctrl = new AbortController();
    const pending = client.request('GET', '/x', { signal: ctrl.signal });
    await server.arrived(1);
    const reason = new Error('shutting down');
    ctrl.abort(reason);
    await expect(pending).rejects.toBe(reason);
  });

  it('aborts during the backoff between attempts', async () => {
    const server = await flaky([503]);
    // Half of an hour-long cap: the backoff is a 30-minute timer, seen when it is set.
    vi.spyOn(Math, 'random').mockReturnValue(0.5);
    const backoffMs = 1_800_000;
    let backoffStarted!: () => void;
    const started = new Promise<void>((resolve) => {
      backoffStarted = resolve;
    });
    const realSetTimeout = globalThis.setTimeout;
    vi.spyOn(globalThis, 'setTimeout').mockImplementation((fn, ms) => {
      if (ms === backoffMs) {
        queueMicrotask(backoffStarted);
      }
      return realSetTimeout(fn, ms);
    });
    const client = createClient({
      baseUrl: server.url,
      retry: { attempts: 5, baseDelayMs: 3_600_000, maxDelayMs: 3_600_000 },
    });
    const ctrl = new AbortController();
    const pending = client.request('GET', '/api/v1/master', { signal: ctrl.signal });
    await started;
    ctrl.abort();
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
    expect(server.seen).toHaveLength(1);
  });

  it('aborts when the signal fires after a failed attempt, before the backoff starts', async () => {
    const server = await flaky([503]);
    const ctrl = new AbortController();
    // The abort lands while the client still holds the 503: no 'abort' event will come later.
    // (The transport ignores the signal, as an in-process one does, so the body stays readable.)
    const abortingFetch: FetchLike = async (input, init) => {
      const res = await globalThis.fetch(input, { ...init, signal: undefined });
      ctrl.abort();
      return res;
    };
    const client = createClient({
      baseUrl: server.url,
      fetch: abortingFetch,
      retry: { attempts: 5, baseDelayMs: 3_600_000, maxDelayMs: 3_600_000 },
    });
    await expect(
      client.request('GET', '/api/v1/master', { signal: ctrl.signal }),
    ).rejects.toMatchObject({ name: 'AbortError' });
    expect(server.seen).toHaveLength(1);
  });

  it('sends nothing when the signal is already aborted, even through a fetch that ignores it', async () => {
    const calls: string[] = [];
    const ignoring: FetchLike = (input) => {
      calls.push(input);
      return Promise.resolve(new Response('{}'));
    };
    const client = createClient({ baseUrl: 'http://master.test', fetch: ignoring });
    await expect(
      client.request('GET', '/x', { signal: AbortSignal.abort() }),
    ).rejects.toMatchObject({ name: 'AbortError' });
    expect(calls).toEqual([]);
  });
});

describe('ApiError', () => {
  it('reads Determined’s error body and the request id: GET path: status code: message (request id)', async () => {
    const server = await flaky([
      {
        status: 404,
        headers: { 'content-type': 'application/json', 'x-request-id': 'r-1' },
        body: JSON.stringify({
          error: { code: 5, reason: 'NotFound', error: "checkpoint 'abc' not found" },
        }),
      },
    ]);
    const client = createClient({ baseUrl: server.url, retry: noWait });
    const err = await client
      .request('GET', '/api/v1/checkpoints/abc', { query: { x: '1' } })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    const e = err as ApiError;
    expect(e.message).toBe(
      "GET /api/v1/checkpoints/abc?x=1: 404 not_found: checkpoint 'abc' not found (request id r-1)",
    );
    expect(e).toMatchObject({
      name: 'ApiError',
      status: 404,
      code: 'not_found',
      method: 'GET',
      url: `${server.url}/api/v1/checkpoints/abc?x=1`,
      requestId: 'r-1',
      body: { error: { code: 5, reason: 'NotFound', error: "checkpoint 'abc' not found" } },
    });
  });

  it('has no request-id suffix without the header, and maps the status when the body has no reason', async () => {
    const server = await flaky([{ status: 403, body: '{"message":"forbidden here"}' }]);
    const client = createClient({ baseUrl: server.url });
    await expect(client.request('GET', '/api/v1/me')).rejects.toMatchObject({
      message: 'GET /api/v1/me: 403 permission_denied: forbidden here',
      requestId: undefined,
      code: 'permission_denied',
    });
  });

  it('sums up a proxy’s HTML page by its title, and keeps the page as the body', async () => {
    const page = `<html><head><title>500 Internal Server Error</title></head><body>${'x'.repeat(2000)}</body></html>`;
    const server = await flaky([{ status: 500, body: page }]);
    const client = createClient({ baseUrl: server.url });
    await expect(client.request('GET', '/x')).rejects.toMatchObject({
      message:
        "GET /x: 500 internal: expected JSON, got HTML (a proxy's error page?): 500 Internal Server Error",
      body: page,
    });
  });

  it('cuts a long non-JSON body short in the message', async () => {
    const server = await flaky([{ status: 500, body: `upstream broke ${'y'.repeat(1000)}` }]);
    const client = createClient({ baseUrl: server.url });
    const err = (await client.request('GET', '/x').catch((e: unknown) => e)) as ApiError;
    expect(err).toBeInstanceOf(ApiError);
    expect(err.message).toMatch(/^GET \/x: 500 internal: upstream broke y+…$/);
    expect(err.message.length).toBeLessThan(250);
  });

  it('carries our master’s request id, from its x-request-id header', async () => {
    const master = await startInProcessMaster('sqlite');
    try {
      const client = await master.login();
      const uuid = '00000000-0000-4000-8000-00000000abcd';
      const err = await client
        .request('GET', `/api/v1/checkpoints/${uuid}`)
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ApiError);
      const e = err as ApiError;
      expect(e.requestId).toMatch(/\S+/);
      expect(e.code).toBe('not_found');
      expect(e.message).toBe(
        `GET /api/v1/checkpoints/${uuid}: 404 not_found: checkpoint '${uuid}' not found (request id ${e.requestId})`,
      );
    } finally {
      await master.close();
    }
  });

  it('is unauthenticated for a bad or missing token on a Determined master', async () => {
    const fake = await new FakeDetermined().start();
    try {
      const bad = createClient({ baseUrl: fake.url, token: 'v2.public.forged' });
      await expect(bad.request('GET', '/api/v1/trials/1')).rejects.toMatchObject({
        status: 401,
        code: 'unauthenticated',
        message: 'GET /api/v1/trials/1: 401 unauthenticated: invalid credentials',
      });
      const none = createClient({ baseUrl: fake.url });
      await expect(none.request('GET', '/api/v1/trials/1')).rejects.toMatchObject({
        status: 401,
        message: 'GET /api/v1/trials/1: 401 unauthenticated: token missing',
      });
      // GET /api/v1/master needs no token.
      await expect(none.request('GET', '/api/v1/master')).resolves.toMatchObject({
        version: '0.38.1',
      });
    } finally {
      await fake.close();
    }
  });
});

describe('createClient requests', () => {
  it('sends the token, JSON bodies, and repeated keys for arrays', async () => {
    const server = await flaky([]);
    const client = createClient({ baseUrl: `${server.url}/`, token: 'v2.public.t' });
    await client.request('POST', '/api/v1/x', {
      query: { states: ['STATE_COMPLETED', 'STATE_DELETED'], limit: 1, skip: undefined },
      body: { a: 'b' },
    });
    const [r] = server.seen;
    expect(r?.url).toBe('/api/v1/x?states=STATE_COMPLETED&states=STATE_DELETED&limit=1');
    expect(r?.headers.authorization).toBe('Bearer v2.public.t');
    expect(r?.headers['content-type']).toBe('application/json');
    expect(r?.body).toBe('{"a":"b"}');
  });

  it('withToken returns a new client and leaves the first one alone', async () => {
    const server = await flaky([]);
    const anonymous = createClient({ baseUrl: server.url });
    const signedIn = anonymous.withToken('v2.public.t');
    await anonymous.request('GET', '/a');
    await signedIn.request('GET', '/b');
    expect(server.seen.map((r) => r.headers.authorization)).toEqual([
      undefined,
      'Bearer v2.public.t',
    ]);
    expect(signedIn.token).toBe('v2.public.t');
    expect(anonymous.token).toBeUndefined();
  });

  it('builds URLs without a query when none is given', () => {
    expect(buildUrl('http://m:8080', '/api/v1/master')).toBe('http://m:8080/api/v1/master');
    expect(buildUrl('http://m:8080', '/p', { a: undefined })).toBe('http://m:8080/p');
  });

  it('reads a grpc-gateway stream line by line, across chunk boundaries', async () => {
    const server = await startHttpServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"result":{"n":1}}\n{"res');
      res.write('ult":{"n":2}}\n\n');
      res.end('{"result":{"n":3}}');
    });
    servers.push(server);
    const client = createClient({ baseUrl: server.url });
    const got: unknown[] = [];
    for await (const item of client.stream<{ n: number }>('/api/v1/trials/metrics/trial_metrics')) {
      got.push(item);
    }
    expect(got).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }]);
  });

  it('throws on a stream error line', async () => {
    const server = await startHttpServer((_req, res) => {
      res.writeHead(200);
      res.end('{"result":{"n":1}}\n{"error":{"code":5,"error":"trial gone"}}\n');
    });
    servers.push(server);
    const client = createClient({ baseUrl: server.url });
    const got: unknown[] = [];
    await expect(
      (async () => {
        for await (const item of client.stream('/s')) {
          got.push(item);
        }
      })(),
    ).rejects.toThrow('/s: stream error: trial gone');
    expect(got).toEqual([{ n: 1 }]);
  });
});
