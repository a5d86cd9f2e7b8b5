// A property-based fuzzer of the master's HTTP API, driven by the routes the app serves (Hono's
// own route list), so a new route is fuzzed with no extra work. Each request is a real route
// with hostile parts: path parameters, query values, JSON bodies (wrong types, prototype names,
// huge numbers, deep nesting, YAML cycles and bombs where YAML is read), tokens and headers.
// The property: no 5xx, no hang, and every 4xx in our JSON error shape with a message.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { ERROR_CODES } from '@determined-ts/api';
import fc from 'fast-check';

import { seedTrial, reportCheckpoint } from './flow.js';
import { openTestMaster } from './helpers.js';
import type { TestMaster } from './helpers.js';
import type { DialectName } from '../src/db/dialect.js';

/** One request the fuzzer sends. */
export interface FuzzRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  rawBody: string | undefined;
}

/** What a run found: every answer that broke the property, and the counts. */
export interface FuzzReport {
  requests: number;
  byStatus: Record<number, number>;
  failures: { request: FuzzRequest; problem: string }[];
}

const PROTOTYPE_NAMES = ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf'];

const deep = (depth: number, leaf = '0'): string =>
  `${'['.repeat(depth)}${leaf}${']'.repeat(depth)}`;

/** Strings a handler may look things up with, parse, or store. */
const hostileString = fc.oneof(
  fc.constantFrom(
    '',
    ' ',
    '\u0000',
    'a\u0000b',
    '../../etc/passwd',
    '%00',
    '%2e%2e',
    'NaN',
    'Infinity',
    '-1',
    '9223372036854775808',
    '1e309',
    'true',
    'null',
    '💥',
    'a'.repeat(70_000),
    'a: &a [*a]',
    '&top {name: x, me: *top}',
    'name: x\nsearcher: {metric: loss}\ncheckpoint_storage: {type: constructor}',
    '{name: x, checkpoint_storage: {type: s3, bucket: "", prefix: "../x"}}',
    '2025-13-45T99:99:99Z',
    '00000000-0000-4000-8000-000000000000',
    'STATE_COMPLETED',
    'STATE_DELETED',
    'SORT_BY_END_TIME',
    'ORDER_BY_DESC',
    ...PROTOTYPE_NAMES,
  ),
  fc.string({ maxLength: 40 }),
);

/** Numbers at the edges of int32, int64 and doubles. */
const hostileNumber = fc.oneof(
  fc.constantFrom(
    0,
    -0,
    -1,
    1.5,
    2 ** 31,
    -(2 ** 31) - 1,
    2 ** 53,
    2 ** 63,
    -(2 ** 63),
    1e308,
    Number.MAX_VALUE,
    Number.MIN_VALUE,
  ),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
);

const hostileValue: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    hostileString,
    hostileNumber,
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(fieldName(), tie('value'), { maxKeys: 4 }),
  ),
})).value;

/** Field names the master's bodies use, and names that are not fields at all. */
function fieldName(): fc.Arbitrary<string> {
  return fc.oneof(
    fc.constantFrom(
      'config',
      'unmanaged',
      'experimentId',
      'trialId',
      'uuid',
      'taskId',
      'allocationId',
      'state',
      'resources',
      'metadata',
      'crc32c',
      'digests',
      'training',
      'reportTime',
      'hparams',
      'metrics',
      'trialRunId',
      'stepsCompleted',
      'group',
      'username',
      'password',
      'admin',
      'active',
      'user',
      'checkpoint',
      'checkpointUuids',
      'checkpointGlobs',
      'trialIds',
      'metricNames',
      'externalExperimentId',
      'name',
      'isSingleTrial',
      'logs',
      'task_id',
      'log',
      'timestamp',
      'progress',
      'checkpointUuid',
      'modelName',
      'description',
      'notes',
      'comment',
      'labels',
      'workspaceName',
      'workspaceId',
      'destinationWorkspaceId',
      'version',
      'expectedVersion',
      ...PROTOTYPE_NAMES,
    ),
    fc.string({ maxLength: 12 }),
  );
}

/** A body: valid-looking objects with hostile values, other JSON, or text that is not JSON. */
const hostileBody: fc.Arbitrary<string | undefined> = fc.oneof(
  fc.constant(undefined),
  fc.dictionary(fieldName(), hostileValue, { maxKeys: 8 }).map((o) => JSON.stringify(o)),
  fc
    .array(fc.dictionary(fieldName(), hostileValue, { maxKeys: 4 }), { maxLength: 3 })
    .map((a) => JSON.stringify(a)),
  hostileValue.map((v) => JSON.stringify(v)),
  fc.constantFrom(
    '{"a": ',
    '[]',
    'null',
    '"x"',
    '{"__proto__": {"admin": true}}',
    `{"config": "name: x", "unmanaged": true, "deep": ${deep(300)}}`,
    `{"metadata": ${deep(20_000)}}`,
    `[${deep(20_000, '"\\u0000"')}]`,
    '{"config": "a: &a [*a]", "unmanaged": true}',
  ),
);

const queryKey = fc.constantFrom(
  'limit',
  'offset',
  'orderBy',
  'sortBy',
  'sortByAttr',
  'sortByMetric',
  'format',
  'states',
  'name',
  'expiresInSeconds',
  'maxMarkers',
  'metricGroup',
  'metricNames',
  'trialIds',
  'maxDatapoints',
  'startBatches',
  'endBatches',
  'follow',
  'trialSourceInfoType',
  'timeSeriesFilter.name',
  ...PROTOTYPE_NAMES,
);

const query = fc
  .array(fc.tuple(queryKey, fc.oneof(hostileString, hostileNumber.map(String))), { maxLength: 4 })
  .map((pairs) => {
    const q = new URLSearchParams();
    for (const [k, v] of pairs) {
      q.append(k, v);
    }
    const text = q.toString();
    return text === '' ? '' : `?${text}`;
  });

const USER_TOKEN = '{user-token}';
const ADMIN_TOKEN = '{admin-token}';

/**
 * The fixture's real ids, and ids that are not. The real user id is a user the fuzzer made, so
 * what it does to users (deactivate, change a password) never locks out the two it signs in as.
 */
export interface FuzzFixture {
  token: string;
  adminToken: string;
  experimentId: number;
  trialId: number;
  userId: number;
  checkpointUuid: string;
  /** A registered model with version 1, which the alias `production` points at. */
  modelName: string;
}

const hostileId = fc.constantFrom(
  '0',
  '-1',
  '1.5',
  '2147483648',
  '99999999999999999999',
  'abc',
  '%00',
  '..',
  '00000000-0000-4000-8000-ffffffffffff',
  ...PROTOTYPE_NAMES,
);

/** A request on one of `routes` (method and Hono path), with hostile parts. */
export function fuzzRequest(
  routes: readonly { method: string; path: string }[],
  fixture: FuzzFixture,
): fc.Arbitrary<FuzzRequest> {
  const real: Record<string, string> = {
    userId: String(fixture.userId),
    experimentId: String(fixture.experimentId),
    trialId: String(fixture.trialId),
    checkpointUuid: fixture.checkpointUuid,
    externalExperimentId: 'ext-1',
    modelName: fixture.modelName,
    modelVersionNum: '1',
    alias: 'production',
  };
  return fc
    .record({
      route: fc.constantFrom(...routes),
      params: fc.array(fc.oneof(fc.constant(undefined), hostileId), { minLength: 2, maxLength: 2 }),
      query,
      body: hostileBody,
      token: fc.constantFrom('user', 'user', 'user', 'admin', 'none', 'garbage', 'expired-looking'),
      contentType: fc.constantFrom(
        undefined,
        'application/json',
        'text/plain',
        'application/x-www-form-urlencoded',
      ),
      accept: fc.constantFrom(undefined, '*/*', 'application/zip', 'text/html', 'constructor'),
    })
    .map(({ route, params, query: q, body, token, contentType, accept }) => {
      let i = 0;
      const path = route.path.replace(/:(\w+)/g, (_all, name: string) => {
        const hostile = params[i++ % params.length];
        return encodeURIComponent(hostile ?? real[name] ?? 'x');
      });
      const headers: Record<string, string> = {};
      if (token === 'user' || token === 'admin') {
        // Filled in when sent: a fuzzed logout ends the session, and the next request needs a
        // fresh one.
        headers.authorization = `Bearer ${token === 'user' ? USER_TOKEN : ADMIN_TOKEN}`;
      } else if (token === 'garbage') {
        headers.authorization = 'Bearer \u00ff\u00fe not a token';
      } else if (token === 'expired-looking') {
        headers.authorization = `Bearer ${'v2.public.'}${'A'.repeat(200)}`;
      }
      if (contentType !== undefined) {
        headers['content-type'] = contentType;
      }
      if (accept !== undefined) {
        headers.accept = accept;
      }
      const hasBody = route.method !== 'GET' && route.method !== 'HEAD';
      return {
        method: route.method,
        path: `${path}${q}`,
        headers,
        rawBody: hasBody ? body : undefined,
      };
    });
}

/**
 * A master for the fuzzer: a fresh database, and a built-looking web UI, so that paths a
 * hostile id turns into UI pages (`/checkpoints/..` is `/`) answer as in production.
 */
export async function openFuzzMaster(
  dialect: DialectName,
): Promise<{ master: TestMaster; close: () => Promise<void> }> {
  const webRoot = await mkdtemp(join(tmpdir(), 'det-fuzz-web-'));
  await writeFile(join(webRoot, 'index.html'), '<!doctype html><title>Determined-TS</title>');
  const { master, close } = await openTestMaster(dialect, { webRoot });
  return {
    master,
    close: async () => {
      await close();
      await rm(webRoot, { recursive: true, force: true });
    },
  };
}

/** Seeds an experiment, a trial, a user and a checkpoint for requests to find. */
export async function makeFuzzFixture(m: TestMaster): Promise<FuzzFixture> {
  const s = await seedTrial(m, { metric: 'loss' });
  const adminToken = await m.login('admin');
  const res = await m.request('POST', '/api/v1/users', {
    token: adminToken,
    body: { user: { username: 'fuzzed', active: true } },
  });
  const { user } = (await res.json()) as { user: { id: number } };
  const checkpointUuid = await reportCheckpoint(m, s, 5);
  const modelName = 'fuzzed model';
  const path = `/api/v1/models/${encodeURIComponent(modelName)}`;
  for (const [method, url, body] of [
    ['POST', '/api/v1/models', { name: modelName, labels: ['fuzz'] }],
    ['POST', `${path}/versions`, { checkpointUuid }],
    ['PUT', `${path}/aliases/production`, { version: 1 }],
  ] as const) {
    const answer = await m.request(method, url, { token: s.token, body });
    if (!answer.ok) {
      throw new Error(`${method} ${url}: ${answer.status} ${await answer.text()}`);
    }
  }
  return {
    token: s.token,
    adminToken,
    experimentId: s.experimentId,
    trialId: s.trialId,
    userId: user.id,
    checkpointUuid,
    modelName,
  };
}

/** The (method, path) pairs the app serves, but the web UI's catch-all. */
export function servedRoutes(m: TestMaster): { method: string; path: string }[] {
  const seen = new Set<string>();
  return m.app.routes
    .filter((r) => r.method !== 'ALL' && r.path !== '/*')
    .filter((r) => {
      const key = `${r.method} ${r.path}`;
      return seen.has(key) ? false : (seen.add(key), true);
    })
    .map((r) => ({ method: r.method, path: r.path }));
}

/** What is wrong with an answer, or `undefined`. */
async function problemOf(res: Response, method: string): Promise<string | undefined> {
  const text = await res.text();
  if (res.status >= 500) {
    return `status ${res.status}: ${text.slice(0, 300)}`;
  }
  if (res.status < 400 || method === 'HEAD') {
    return undefined;
  }
  if (!(res.headers.get('content-type') ?? '').startsWith('application/json')) {
    return `status ${res.status} with content-type ${res.headers.get('content-type') ?? '(none)'}`;
  }
  let body: { message?: unknown; error?: { reason?: unknown; code?: unknown } };
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    return `status ${res.status} with a body that is not JSON`;
  }
  const known = Object.values(ERROR_CODES).some(
    (c) => c.status === res.status && c.reason === body.error?.reason && c.grpc === body.error.code,
  );
  if (typeof body.message !== 'string' || body.message === '' || !known) {
    return `status ${res.status} without our error shape: ${text.slice(0, 300)}`;
  }
  return undefined;
}

/** `request` with the placeholders of the signed-in users' tokens filled in. */
function withTokens(request: FuzzRequest, tokens: { user: string; admin: string }): FuzzRequest {
  const authorization = request.headers.authorization
    ?.replace(USER_TOKEN, tokens.user)
    .replace(ADMIN_TOKEN, tokens.admin);
  return authorization === undefined
    ? request
    : { ...request, headers: { ...request.headers, authorization } };
}

/** A request that takes longer than this is a hang. */
const HANG_MS = 10_000;

/**
 * Sends `runs` generated requests to `m` (from `seed`, reproducible) and reports every answer
 * that broke the property. Requests are sent one at a time: what one changes, the next may see.
 */
export async function runFuzz(
  m: TestMaster,
  { runs, seed }: { runs: number; seed: number },
): Promise<FuzzReport> {
  const fixture = await makeFuzzFixture(m);
  const routes = servedRoutes(m);
  const requests = fc.sample(fuzzRequest(routes, fixture), { numRuns: runs, seed });
  const report: FuzzReport = { requests: 0, byStatus: {}, failures: [] };
  const signedIn = { user: fixture.token, admin: fixture.adminToken };
  for (const planned of requests) {
    report.requests += 1;
    const request = withTokens(planned, signedIn);
    let timer: NodeJS.Timeout | undefined;
    const hang = new Promise<'hang'>((resolve) => {
      timer = setTimeout(() => resolve('hang'), HANG_MS);
    });
    try {
      const answer = await Promise.race([
        m.request(request.method, request.path, {
          headers: request.headers,
          rawBody: request.rawBody,
        }),
        hang,
      ]);
      if (answer === 'hang') {
        report.failures.push({ request, problem: `no answer in ${HANG_MS} ms` });
        continue;
      }
      report.byStatus[answer.status] = (report.byStatus[answer.status] ?? 0) + 1;
      const problem = await problemOf(answer, request.method);
      if (problem !== undefined) {
        report.failures.push({ request, problem });
      }
      if (request.path.startsWith('/api/v1/auth/logout') && answer.status < 300) {
        signedIn.user = await m.login();
        signedIn.admin = await m.login('admin');
      }
    } catch (err: unknown) {
      report.failures.push({ request, problem: `threw: ${String(err)}` });
    } finally {
      clearTimeout(timer);
    }
  }
  return report;
}
