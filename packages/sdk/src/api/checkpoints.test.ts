import { randomBytes } from 'node:crypto';

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { FakeDetermined, startHttpServer } from '../../test/fake-determined.js';
import type { TestServer } from '../../test/fake-determined.js';
import {
  addTrial,
  createTrial,
  markCheckpoint,
  masterTargets,
  recordingFetch,
  reportCheckpoint,
  reportMetrics,
} from '../../test/master.js';
import type { MasterTarget, RecordedRequest } from '../../test/master.js';
import { createClient } from '../client.js';
import type { Client } from '../client.js';
import { ApiError, UnexpectedResponseError } from '../errors.js';
import type { CheckpointData } from '../models.js';
import {
  checkpointQuery,
  getCheckpoint,
  listCheckpoints,
  listCheckpointsPage,
} from './checkpoints.js';
import type { ListCheckpointsOptions } from './checkpoints.js';
import { getExperiment, getTrial } from './trials.js';

/*
 * The modern client's checkpoint listing and getters, on our master (in-process per dialect,
 * and over loopback) and on the fake Determined master. Both hold the same data: an experiment
 * with two trials; trial A has 7 checkpoints at steps 100..700, the one at 300 DELETED, with
 * validation losses below; trial B has 2.
 */

const BASE_TIME = Date.parse('2025-01-01T00:00:00Z');
const LOSS: Record<number, number> = {
  100: 0.5,
  200: 0.2,
  300: 0.05,
  400: 0.4,
  500: 0.3,
  600: 0.6,
};
// Steps 700 has no validation.

interface Data {
  client: Client;
  requests: RecordedRequest[];
  experimentId: number;
  trialA: number;
  trialB: number;
  /** steps → uuid, trial A. */
  a: Map<number, string>;
  b: string[];
}

interface Target {
  name: string;
  kind: 'ours' | 'fake';
  start(): Promise<{ data: Data; close: () => Promise<void> }>;
}

function uuidFactory(): (n: number) => string {
  const prefix = randomBytes(4).toString('hex');
  return (n) => `${prefix}-0000-4000-8000-${n.toString(16).padStart(12, '0')}`;
}

async function seedOurs(master: MasterTarget): Promise<Data> {
  const client = await master.login();
  const uuid = uuidFactory();
  const trialA = await createTrial(client, {
    storageDir: master.storageDir,
    smallerIsBetter: true,
  });
  // A second trial of the same experiment, as a managed searcher would make.
  const trialB = await addTrial(client, trialA.experimentId, { lr: 0.2 });
  const a = new Map<number, string>();
  for (let steps = 100; steps <= 700; steps += 100) {
    const loss = LOSS[steps];
    if (loss !== undefined) {
      await reportMetrics(client, trialA, 'validation', steps, { validation_loss: loss });
    }
    a.set(steps, uuid(steps));
    await reportCheckpoint(client, trialA, {
      uuid: uuid(steps),
      steps,
      reportTime: new Date(BASE_TIME + steps * 1000),
      resources: { 'metadata.json': 20, 'model.bin': steps },
    });
  }
  await markCheckpoint(client, uuid(300), 'DELETED');
  const b = [uuid(1), uuid(2)];
  for (const [i, id] of b.entries()) {
    await reportMetrics(client, trialB, 'validation', (i + 1) * 10, {
      validation_loss: 0.01 * (i + 1),
    });
    await reportCheckpoint(client, trialB, {
      uuid: id,
      steps: (i + 1) * 10,
      reportTime: new Date(BASE_TIME + 5000 + i),
    });
  }
  return {
    client,
    requests: master.requests,
    experimentId: trialA.experimentId,
    trialA: trialA.trialId,
    trialB: trialB.trialId,
    a,
    b,
  };
}

function seedFake(fake: FakeDetermined): Data {
  const uuid = uuidFactory();
  const experimentId = fake.addExperiment({ smallerIsBetter: true });
  const trialA = fake.addTrial(experimentId);
  const trialB = fake.addTrial(experimentId, { lr: 0.2 });
  const a = new Map<number, string>();
  for (let steps = 100; steps <= 700; steps += 100) {
    const loss = LOSS[steps];
    if (loss !== undefined) {
      fake.addValidation(trialA, steps, { validation_loss: loss });
    }
    a.set(steps, uuid(steps));
    fake.addCheckpoint({
      uuid: uuid(steps),
      trialId: trialA,
      steps,
      reportTime: new Date(BASE_TIME + steps * 1000),
      resources: { 'metadata.json': 20, 'model.bin': steps },
      state: steps === 300 ? 'DELETED' : 'COMPLETED',
    });
  }
  const b = [uuid(1), uuid(2)];
  for (const [i, id] of b.entries()) {
    fake.addValidation(trialB, (i + 1) * 10, { validation_loss: 0.01 * (i + 1) });
    fake.addCheckpoint({
      uuid: id,
      trialId: trialB,
      steps: (i + 1) * 10,
      reportTime: new Date(BASE_TIME + 5000 + i),
    });
  }
  const { fetch, requests } = recordingFetch((input, init) => globalThis.fetch(input, init));
  const client = createClient({ baseUrl: fake.url, token: fake.tokenFor(), fetch });
  return { client, requests, experimentId, trialA, trialB, a, b };
}

const TARGETS: Target[] = [
  ...masterTargets().map((t): Target => ({
    name: t.name,
    kind: 'ours',
    start: async () => {
      const master = await t.start();
      return { data: await seedOurs(master), close: () => master.close() };
    },
  })),
  {
    name: 'fake Determined 0.38.1',
    kind: 'fake',
    start: async () => {
      const fake = await new FakeDetermined().start();
      return { data: seedFake(fake), close: () => fake.close() };
    },
  },
];

async function collect(it: AsyncIterable<CheckpointData>): Promise<CheckpointData[]> {
  const out: CheckpointData[] = [];
  for await (const c of it) {
    out.push(c);
  }
  return out;
}

const pages = (requests: RecordedRequest[]): [string | null, string | null][] =>
  requests
    .filter((r) => r.path.includes('/checkpoints'))
    .map((r) => [r.query.get('offset'), r.query.get('limit')]);

for (const target of TARGETS) {
  describe(`checkpoint listing [${target.name}]`, () => {
    let d: Data;
    let close: () => Promise<void>;
    beforeAll(async () => {
      ({ data: d, close } = await target.start());
    });
    afterAll(async () => {
      await close();
    });
    const stepsOf = (list: CheckpointData[]): (number | undefined)[] =>
      list.map((c) => c.batchNumber);

    it('reads every page of a trial, pageSize rows at a time, in the master’s order', async () => {
      d.requests.length = 0;
      const all = await collect(
        listCheckpoints(
          d.client,
          { trialId: d.trialA },
          { sortBy: { attr: 'batchNumber' }, orderBy: 'asc', pageSize: 3 },
        ),
      );
      expect(stepsOf(all)).toEqual([100, 200, 300, 400, 500, 600, 700]);
      expect(pages(d.requests)).toEqual([
        ['0', '3'],
        ['3', '3'],
        ['6', '3'],
      ]);
    });

    it('stops at maxResults, asking only for what is left', async () => {
      d.requests.length = 0;
      const five = await collect(
        listCheckpoints(
          d.client,
          { trialId: d.trialA },
          { sortBy: { attr: 'batchNumber' }, orderBy: 'desc', maxResults: 5, pageSize: 3 },
        ),
      );
      expect(stepsOf(five)).toEqual([700, 600, 500, 400, 300]);
      expect(pages(d.requests)).toEqual([
        ['0', '3'],
        ['3', '2'],
      ]);
      d.requests.length = 0;
      expect(
        await collect(listCheckpoints(d.client, { trialId: d.trialA }, { maxResults: 0 })),
      ).toEqual([]);
      expect(d.requests).toHaveLength(0);
    });

    it('sends one request with maxResults under the page size', async () => {
      d.requests.length = 0;
      const two = await collect(
        listCheckpoints(
          d.client,
          { trialId: d.trialA },
          { sortBy: { attr: 'batchNumber' }, orderBy: 'desc', maxResults: 2 },
        ),
      );
      expect(stepsOf(two)).toEqual([700, 600]);
      expect(pages(d.requests)).toEqual([['0', '2']]);
    });

    it('filters by state', async () => {
      const completed = await collect(
        listCheckpoints(
          d.client,
          { trialId: d.trialA },
          { sortBy: { attr: 'batchNumber' }, orderBy: 'asc', states: ['COMPLETED'] },
        ),
      );
      expect(stepsOf(completed)).toEqual([100, 200, 400, 500, 600, 700]);
      const deleted = await collect(
        listCheckpoints(
          d.client,
          { trialId: d.trialA },
          { states: ['DELETED', 'PARTIALLY_DELETED'] },
        ),
      );
      expect(deleted.map((c) => c.uuid)).toEqual([d.a.get(300)]);
      expect(deleted[0]?.state).toBe('DELETED');
    });

    it('lists an experiment’s checkpoints across its trials, paging', async () => {
      d.requests.length = 0;
      const all = await collect(
        listCheckpoints(
          d.client,
          { experimentId: d.experimentId },
          { sortBy: { attr: 'uuid' }, orderBy: 'asc', pageSize: 4, states: ['COMPLETED'] },
        ),
      );
      const expected = [
        ...[...d.a.entries()].filter(([s]) => s !== 300).map(([, u]) => u),
        ...d.b,
      ].sort();
      expect(all.map((c) => c.uuid)).toEqual(expected);
      expect(new Set(all.map((c) => c.training?.trialId))).toEqual(new Set([d.trialA, d.trialB]));
      expect(pages(d.requests)).toEqual([
        ['0', '4'],
        ['4', '4'],
      ]);
      expect(
        d.requests.every(
          (r) => r.path.split('?')[0] === `/api/v1/experiments/${d.experimentId}/checkpoints`,
        ),
      ).toBe(true);
    });

    it('sorts by a validation metric with orderBy', async () => {
      const asc = await collect(
        listCheckpoints(
          d.client,
          { trialId: d.trialA },
          { sortBy: { metric: 'validation_loss' }, orderBy: 'asc', states: ['COMPLETED'] },
        ),
      );
      const desc = await collect(
        listCheckpoints(
          d.client,
          { trialId: d.trialA },
          { sortBy: { metric: 'validation_loss' }, orderBy: 'desc', states: ['COMPLETED'] },
        ),
      );
      if (target.kind === 'ours') {
        // Ours: a checkpoint without the metric is last in both directions.
        expect(stepsOf(asc)).toEqual([200, 500, 400, 100, 600, 700]);
        expect(stepsOf(desc)).toEqual([600, 100, 400, 500, 200, 700]);
      } else {
        // Determined: missing is "less", so first in ascending order and last in descending.
        expect(stepsOf(asc)).toEqual([700, 200, 500, 400, 100, 600]);
        expect(stepsOf(desc)).toEqual([600, 100, 400, 500, 200, 700]);
      }
    });

    it('sorts by the searcher metric by default: best first on ours, raw ascending on Determined', async () => {
      const list = await collect(
        listCheckpoints(d.client, { trialId: d.trialA }, { states: ['COMPLETED'] }),
      );
      expect(stepsOf(list)).toEqual(
        target.kind === 'ours' ? [200, 500, 400, 100, 600, 700] : [700, 200, 500, 400, 100, 600],
      );
      const experiment = await collect(
        listCheckpoints(
          d.client,
          { experimentId: d.experimentId },
          { states: ['COMPLETED'], maxResults: 2 },
        ),
      );
      // Determined's experiment endpoint (and ours) go best first with the metric-less last.
      expect(experiment.map((c) => c.uuid)).toEqual([d.b[0], d.b[1]]);
    });

    it('returns one page with its pagination', async () => {
      const page = await listCheckpointsPage(
        d.client,
        { trialId: d.trialA },
        { sortBy: { attr: 'batchNumber' }, orderBy: 'asc', offset: 2, limit: 2 },
      );
      expect(stepsOf(page.checkpoints)).toEqual([300, 400]);
      expect(page.pagination).toEqual({
        offset: 2,
        limit: 2,
        startIndex: 2,
        endIndex: 4,
        total: 7,
      });
      const last = await listCheckpointsPage(
        d.client,
        { trialId: d.trialA },
        { sortBy: { attr: 'batchNumber' }, orderBy: 'asc', offset: -2, limit: 0 },
      );
      expect(stepsOf(last.checkpoints)).toEqual([600, 700]);
      expect(last.pagination).toEqual({
        offset: -2,
        limit: 0,
        startIndex: 5,
        endIndex: 7,
        total: 7,
      });
      await expect(
        listCheckpointsPage(d.client, { trialId: d.trialA }, { offset: 8, limit: 1 }),
      ).rejects.toMatchObject({ status: 400, code: 'invalid_argument' });
    });

    it('gets a checkpoint by uuid, typed', async () => {
      const c = await getCheckpoint(d.client, d.a.get(200)!);
      expect(c).toMatchObject({
        uuid: d.a.get(200),
        state: 'COMPLETED',
        batchNumber: 200,
        resources: { 'metadata.json': 20, 'model.bin': 200 },
        training: {
          trialId: d.trialA,
          experimentId: d.experimentId,
          validationMetrics: { validation_loss: 0.2 },
          searcherMetric: 0.2,
        },
        validation: {
          state: 'COMPLETED',
          metrics: { validationMetrics: { validation_loss: 0.2 } },
        },
      });
      expect(c.reportTime).toEqual(new Date(BASE_TIME + 200_000));
      expect(typeof c.storageConfig.type).toBe('string');
      const err = await getCheckpoint(d.client, '00000000-0000-4000-8000-0000000fffff').catch(
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(ApiError);
      expect((err as ApiError).code).toBe('not_found');
      expect((err as ApiError).message).toContain(
        "404 not_found: checkpoint '00000000-0000-4000-8000-0000000fffff' not found",
      );
    });

    it('gets a trial and an experiment, typed', async () => {
      const trial = await getTrial(d.client, d.trialA);
      expect(trial).toMatchObject({ id: d.trialA, experimentId: d.experimentId });
      expect(typeof trial.hparams.lr).toBe('number');
      expect(trial.startTime).toBeInstanceOf(Date);
      expect(trial.state).not.toMatch(/^STATE_/);
      const experiment = await getExperiment(d.client, d.experimentId);
      expect(experiment).toMatchObject({
        id: d.experimentId,
        searcherMetric: 'validation_loss',
        smallerIsBetter: true,
        numTrials: 2,
      });
      expect([...experiment.trialIds].sort((x, y) => x - y)).toEqual([d.trialA, d.trialB]);
      await expect(getTrial(d.client, 999_999)).rejects.toMatchObject({
        status: 404,
        code: 'not_found',
      });
      await expect(getExperiment(d.client, 999_999)).rejects.toMatchObject({ status: 404 });
    });

    it('passes the signal on', async () => {
      const ctrl = new AbortController();
      ctrl.abort();
      await expect(
        collect(listCheckpoints(d.client, { trialId: d.trialA }, { signal: ctrl.signal })),
      ).rejects.toMatchObject({ name: 'AbortError' });
      await expect(getTrial(d.client, d.trialA, { signal: ctrl.signal })).rejects.toMatchObject({
        name: 'AbortError',
      });
    });
  });
}

describe('checkpointQuery', () => {
  it('maps every sort key, direction and state to Determined’s spelling', () => {
    const cases: [ListCheckpointsOptions, Record<string, unknown>][] = [
      [{}, { sortByAttr: 'SORT_BY_SEARCHER_METRIC', orderBy: undefined, states: undefined }],
      [
        { sortBy: { attr: 'uuid' }, orderBy: 'asc' },
        { sortByAttr: 'SORT_BY_UUID', orderBy: 'ORDER_BY_ASC' },
      ],
      [{ sortBy: { attr: 'trialId' } }, { sortByAttr: 'SORT_BY_TRIAL_ID' }],
      [
        { sortBy: { attr: 'batchNumber' }, orderBy: 'desc' },
        { sortByAttr: 'SORT_BY_BATCH_NUMBER', orderBy: 'ORDER_BY_DESC' },
      ],
      [{ sortBy: { attr: 'endTime' } }, { sortByAttr: 'SORT_BY_END_TIME' }],
      [{ sortBy: { attr: 'state' } }, { sortByAttr: 'SORT_BY_STATE' }],
      [
        { sortBy: { metric: 'f1' }, orderBy: 'desc' },
        { sortByMetric: 'f1', orderBy: 'ORDER_BY_DESC' },
      ],
      [
        { states: ['COMPLETED', 'PARTIALLY_DELETED'] },
        { states: ['STATE_COMPLETED', 'STATE_PARTIALLY_DELETED'] },
      ],
    ];
    for (const [options, expected] of cases) {
      expect(checkpointQuery(options)).toMatchObject(expected);
    }
    expect(checkpointQuery({ sortBy: { metric: 'f1' } })).not.toHaveProperty('sortByAttr');
  });
});

describe('listCheckpoints on a malformed answer', () => {
  let server: TestServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it('throws a TypeError naming the missing field', async () => {
    server = await startHttpServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          pagination: { offset: 0, limit: 1, startIndex: 0, endIndex: 0, total: 0 },
        }),
      );
    });
    const client = createClient({ baseUrl: server.url });
    const err = await collect(listCheckpoints(client, { trialId: 1 })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnexpectedResponseError);
    expect((err as Error).message).toBe(
      'GET /api/v1/trials/1/checkpoints: field checkpoints: missing (expected an array)',
    );
  });

  it('stops instead of looping when the pagination does not advance', async () => {
    let calls = 0;
    server = await startHttpServer((req, res) => {
      calls += 1;
      const offset = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('offset'));
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          checkpoints: [],
          pagination: { offset, limit: 1, startIndex: offset, endIndex: offset, total: 5 },
        }).replace('"checkpoints":[]', `"checkpoints":[${JSON.stringify(stuckCheckpoint())}]`),
      );
    });
    const client = createClient({ baseUrl: server.url });
    const err = await collect(listCheckpoints(client, { trialId: 1 }, { pageSize: 1 })).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(UnexpectedResponseError);
    expect(err).toMatchObject({
      method: 'GET',
      path: '/api/v1/trials/1/checkpoints',
      message:
        'GET /api/v1/trials/1/checkpoints: field pagination.endIndex: 0 does not advance past offset 0',
    });
    expect(calls).toBe(1);
  });
});

function stuckCheckpoint(): Record<string, unknown> {
  return {
    uuid: '00000000-0000-4000-8000-000000000001',
    taskId: '',
    reportTime: '2025-01-01T00:00:00Z',
    resources: {},
    metadata: {},
    state: 'STATE_COMPLETED',
    training: {
      experimentConfig: null,
      hparams: null,
      trainingMetrics: { avgMetrics: null, batchMetrics: [] },
      validationMetrics: { avgMetrics: null, batchMetrics: [] },
    },
  };
}

describe('the fake Determined master speaks 0.38.1’s wire', () => {
  let fake: FakeDetermined;
  beforeAll(async () => {
    fake = await new FakeDetermined().start();
  });
  afterAll(async () => {
    await fake.close();
  });

  const raw = async (path: string, token?: string): Promise<{ status: number; body: unknown }> => {
    const res = await fetch(`${fake.url}${path}`, {
      headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
    });
    return { status: res.status, body: await res.json() };
  };

  it('sends int64 as strings, NaN as a string, and omits unset optional fields', async () => {
    const trialId = fake.addTrial(fake.addExperiment({ metric: 'loss' }));
    fake.addValidation(trialId, 10, { loss: 'NaN' });
    fake.addCheckpoint({
      uuid: '00000000-0000-4000-8000-00000000000a',
      trialId,
      steps: 10,
      reportTime: '2024-07-01T12:00:00.123456Z',
      resources: { 'model.bin': 1234, 'dir/': 0 },
    });
    const { status, body } = await raw(
      '/api/v1/checkpoints/00000000-0000-4000-8000-00000000000a',
      fake.tokenFor(),
    );
    expect(status).toBe(200);
    const c = (body as { checkpoint: Record<string, unknown> }).checkpoint;
    expect(c.resources).toEqual({ 'model.bin': '1234', 'dir/': '0' });
    expect(c.state).toBe('STATE_COMPLETED');
    expect(c.reportTime).toBe('2024-07-01T12:00:00.123456Z');
    expect(c).not.toHaveProperty('storageId');
    expect(c.training).toMatchObject({
      trialId,
      searcherMetric: 'NaN',
      validationMetrics: { avgMetrics: { loss: 'NaN' }, batchMetrics: [] },
    });
  });

  it('answers errors as {"error":{"code","reason","error"}} with the gateway’s status', async () => {
    const token = fake.tokenFor();
    expect(await raw('/api/v1/trials/424242', token)).toEqual({
      status: 404,
      body: { error: { code: 5, reason: 'NotFound', error: "trial '424242' not found" } },
    });
    expect(await raw('/api/v1/trials/1', 'v2.public.nope')).toEqual({
      status: 401,
      body: { error: { code: 16, reason: 'Unauthenticated', error: 'invalid credentials' } },
    });
    expect((await raw('/api/v1/checkpoints/not-a-uuid', token)).status).toBe(500);
    const trialId = fake.addTrial(fake.addExperiment());
    expect((await raw(`/api/v1/trials/${trialId}/checkpoints?offset=1`, token)).status).toBe(400);
    expect(
      (await raw(`/api/v1/trials/${trialId}/checkpoints?orderBy=SIDEWAYS`, token)).status,
    ).toBe(400);
  });

  it('has no determinedTs in GET /api/v1/master and issues v2.public tokens', async () => {
    const { body } = await raw('/api/v1/master');
    expect(body).toMatchObject({ version: '0.38.1' });
    expect(body).not.toHaveProperty('determinedTs');
    const res = await fetch(`${fake.url}/api/v1/auth/login`, {
      method: 'POST',
      body: JSON.stringify({ username: 'determined', password: '', isHashed: true }),
    });
    const login = (await res.json()) as { token: string; user: { username: string } };
    expect(login.token).toMatch(/^v2\.public\./);
    expect(login.user.username).toBe('determined');
    const bad = await fetch(`${fake.url}/api/v1/auth/login`, {
      method: 'POST',
      body: JSON.stringify({ username: 'determined', password: 'x', isHashed: false }),
    });
    expect(bad.status).toBe(401);
  });
});
