import { describe, expect, it } from 'vitest';

import { call, reportMetric, seedTrial, testUuid } from '../../test/flow.js';
import type { Seeded } from '../../test/flow.js';
import { describeEachDialect } from '../../test/helpers.js';
import type { TestMaster } from '../../test/helpers.js';

/*
 * Checkpoint ordering on `GET /api/v1/trials/{id}/checkpoints` and
 * `GET /api/v1/experiments/{id}/checkpoints`, as DESIGN.md "Semantics we define" pins it:
 * - by the sort key, in the explicit `orderBy`, else (searcher metric only) the searcher's
 *   direction, else ascending;
 * - checkpoints without the key (no validation, metric missing, NaN/±Infinity) last in both
 *   directions;
 * - ties: larger steps_completed (none last), then later reportTime, then smaller uuid.
 */

interface WireCheckpoint {
  uuid: string;
  state: string;
  reportTime: string;
  metadata: Record<string, unknown>;
  training: { trialId?: number; searcherMetric?: unknown };
}

interface Pagination {
  offset: number;
  limit: number;
  startIndex: number;
  endIndex: number;
  total: number;
}

interface ListResponse {
  checkpoints: WireCheckpoint[];
  pagination: Pagination;
}

/** What the test knows about a checkpoint, to sort it independently of the server. */
interface ModelCheckpoint {
  uuid: string;
  trialId: number;
  steps: number | null;
  reportTime: number;
  state: string;
}

/** The test's own record of what was reported. */
class Model {
  readonly checkpoints = new Map<string, ModelCheckpoint>();
  /** `${trialId}/${steps}` → the live validation's metrics (merged re-reports). */
  readonly validations = new Map<string, Record<string, unknown>>();

  constructor(readonly searcher: { metric: string; smallerIsBetter: boolean }) {}

  validationOf(c: ModelCheckpoint): Record<string, unknown> | undefined {
    return c.steps === null ? undefined : this.validations.get(`${c.trialId}/${c.steps}`);
  }

  metricOf(c: ModelCheckpoint, name: string): number | undefined {
    const value = this.validationOf(c)?.[name];
    return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
  }
}

type Key = number | string | undefined;

const STATE_NUMBER: Record<string, number> = {
  STATE_ACTIVE: 1,
  STATE_COMPLETED: 2,
  STATE_ERROR: 3,
  STATE_DELETED: 4,
  STATE_PARTIALLY_DELETED: 5,
};

/** One way of asking for an order, with the reference key and direction it means. */
interface Variant {
  name: string;
  query: string;
  key: (c: ModelCheckpoint) => Key;
  direction: 'asc' | 'desc';
}

type OrderBy = 'ORDER_BY_ASC' | 'ORDER_BY_DESC' | undefined;

function variants(model: Model, metrics: readonly string[], orderBy: OrderBy): Variant[] {
  type Direction = Variant['direction'];
  const explicit: Direction | undefined =
    orderBy === 'ORDER_BY_ASC' ? 'asc' : orderBy === 'ORDER_BY_DESC' ? 'desc' : undefined;
  const searcherDirection: Direction = model.searcher.smallerIsBetter ? 'asc' : 'desc';
  const order = orderBy === undefined ? '' : `&orderBy=${orderBy}`;
  const attr = (
    name: string,
    key: Variant['key'],
    direction: Direction = explicit ?? 'asc',
  ): Variant => ({
    name,
    query: `sortByAttr=${name}${order}`,
    key,
    direction,
  });
  const out: Variant[] = [
    attr(
      'SORT_BY_SEARCHER_METRIC',
      (c) => model.metricOf(c, model.searcher.metric),
      explicit ?? searcherDirection,
    ),
    attr('SORT_BY_BATCH_NUMBER', (c) => c.steps ?? undefined),
    attr('SORT_BY_UUID', (c) => c.uuid),
    attr('SORT_BY_END_TIME', (c) => c.reportTime),
    attr('SORT_BY_STATE', (c) => STATE_NUMBER[c.state]),
    attr('SORT_BY_TRIAL_ID', (c) => c.trialId),
    ...metrics.map((metric): Variant => ({
      name: `sortByMetric=${metric}`,
      query: `sortByMetric=${encodeURIComponent(metric)}${order}`,
      key: (c) => model.metricOf(c, metric),
      direction: explicit ?? (metric === model.searcher.metric ? searcherDirection : 'asc'),
    })),
  ];
  if (orderBy === undefined) {
    // No sort at all: by trial, then the tie-break.
    out.push({ name: 'no sort', query: '', key: (c) => c.trialId, direction: 'asc' });
    out.push({
      name: 'SORT_BY_UNSPECIFIED',
      query: 'sortByAttr=SORT_BY_UNSPECIFIED',
      key: (c) => c.trialId,
      direction: 'asc',
    });
  }
  return out;
}

function compareKeys(a: Key, b: Key, direction: 'asc' | 'desc'): number {
  if (a === undefined || b === undefined) {
    // Missing keys last, whatever the direction.
    return a === b ? 0 : a === undefined ? 1 : -1;
  }
  if (a === b) {
    return 0;
  }
  const c = a < b ? -1 : 1;
  return direction === 'asc' ? c : -c;
}

function tieBreak(a: ModelCheckpoint, b: ModelCheckpoint): number {
  if (a.steps !== b.steps) {
    if (a.steps === null) {
      return 1;
    }
    if (b.steps === null) {
      return -1;
    }
    return b.steps - a.steps;
  }
  if (a.reportTime !== b.reportTime) {
    return b.reportTime - a.reportTime;
  }
  return a.uuid < b.uuid ? -1 : a.uuid > b.uuid ? 1 : 0;
}

/** The order the server must produce, computed the plain way. */
function referenceOrder(
  checkpoints: readonly ModelCheckpoint[],
  variant: Variant,
  states: readonly string[],
): string[] {
  return checkpoints
    .filter((c) => states.length === 0 || states.includes(c.state))
    .sort(
      (a, b) => compareKeys(variant.key(a), variant.key(b), variant.direction) || tieBreak(a, b),
    )
    .map((c) => c.uuid);
}

/** A small seeded PRNG (mulberry32), so a failing case can be replayed. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function pick<T>(rand: () => number, items: readonly T[]): T {
  const item = items[Math.floor(rand() * items.length)];
  if (item === undefined) {
    throw new Error('pick from an empty list');
  }
  return item;
}

function randomUuid(rand: () => number, used: Set<string>): string {
  for (;;) {
    const hex = Array.from({ length: 32 }, () => Math.floor(rand() * 16).toString(16)).join('');
    const uuid = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-8${hex.slice(17, 20)}-${hex.slice(20)}`;
    if (!used.has(uuid)) {
      used.add(uuid);
      return uuid;
    }
  }
}

const iso = (ms: number): string => new Date(ms).toISOString();

async function list(m: TestMaster, token: string, path: string): Promise<ListResponse> {
  return call<ListResponse>(m, token, 'GET', path);
}

async function listUuids(m: TestMaster, token: string, path: string): Promise<string[]> {
  return (await list(m, token, path)).checkpoints.map((c) => c.uuid);
}

/** Adds a started trial to the seeded experiment. */
async function addTrial(m: TestMaster, s: Seeded): Promise<Seeded> {
  const { trial } = await call<{ trial: { id: number; taskId: string } }>(
    m,
    s.token,
    'POST',
    '/api/v1/trials',
    { experimentId: s.experimentId, hparams: { lr: 0.2 }, unmanaged: true },
  );
  const { trialRunId } = await call<{ trialRunId: number }>(
    m,
    s.token,
    'POST',
    `/api/v1/trials/${trial.id}/start`,
    { trialId: trial.id, resume: true },
  );
  return { ...s, trialId: trial.id, taskId: trial.taskId, runId: trialRunId };
}

async function report(
  m: TestMaster,
  s: Seeded,
  model: Model | undefined,
  steps: number,
  opts: { uuid?: string; reportTime?: number } = {},
): Promise<string> {
  const uuid = opts.uuid ?? testUuid();
  const reportTime = opts.reportTime ?? m.now.ms;
  await call(m, s.token, 'POST', '/api/v1/checkpoints', {
    uuid,
    taskId: s.taskId,
    reportTime: iso(reportTime),
    state: 'STATE_COMPLETED',
    resources: { 'model.bin': '10' },
    metadata: { steps_completed: steps },
  });
  model?.checkpoints.set(uuid, {
    uuid,
    trialId: s.trialId,
    steps,
    reportTime,
    state: 'STATE_COMPLETED',
  });
  return uuid;
}

async function validate(
  m: TestMaster,
  s: Seeded,
  model: Model | undefined,
  steps: number,
  metrics: Record<string, unknown>,
): Promise<void> {
  await reportMetric(m, s, 'validation', steps, metrics);
  if (model !== undefined) {
    const key = `${s.trialId}/${steps}`;
    model.validations.set(key, { ...model.validations.get(key), ...metrics });
  }
}

const trialPath = (id: number, query = ''): string =>
  `/api/v1/trials/${id}/checkpoints${query === '' ? '' : `?${query}`}`;
const experimentPath = (id: number, query = ''): string =>
  `/api/v1/experiments/${id}/checkpoints${query === '' ? '' : `?${query}`}`;

const VALUE_POOL: readonly unknown[] = [
  0.1,
  0.2,
  0.2,
  0.5,
  1,
  -1,
  0,
  3,
  1e300,
  -2.5e-8,
  'NaN',
  'Infinity',
  '-Infinity',
  'not a number',
  true,
  null,
];
const EXTRA_METRICS = ['accuracy', 'val.acc', 'never_reported'] as const;

/**
 * Builds a random history: checkpoints and validations interleaved (so validations often arrive
 * after their checkpoint), ties on steps, report times and metric values, non-finite and missing
 * values, merged re-reports, deletions and metadata replacements that move or drop the step.
 */
async function randomHistory(
  m: TestMaster,
  seed: number,
  smallerIsBetter: boolean,
): Promise<{ model: Model; trials: Seeded[] }> {
  const rand = prng(seed);
  const first = await seedTrial(m, { smallerIsBetter });
  const trials = [first, await addTrial(m, first), await addTrial(m, first)];
  const model = new Model({ metric: 'validation_loss', smallerIsBetter });
  const used = new Set<string>();
  const base = m.now.ms;
  const stepsPool = [0, 10, 20, 30, 40, 50];
  for (let i = 0; i < 60; i++) {
    const s = pick(rand, trials);
    const steps = pick(rand, stepsPool);
    if (rand() < 0.55) {
      await report(m, s, model, steps, {
        uuid: randomUuid(rand, used),
        reportTime: base + Math.floor(rand() * 4) * 1000,
      });
    } else {
      const known = model.validations.get(`${s.trialId}/${steps}`) ?? {};
      const metrics: Record<string, unknown> = {};
      for (const name of ['validation_loss', ...EXTRA_METRICS.slice(0, 2)]) {
        // A merged re-report may add keys but must not change one already reported.
        if (!(name in known) && rand() < 0.7) {
          metrics[name] = pick(rand, VALUE_POOL);
        }
      }
      if (Object.keys(metrics).length > 0) {
        await validate(m, s, model, steps, metrics);
      }
    }
  }
  const all = [...model.checkpoints.values()];
  for (const c of all) {
    const r = rand();
    if (r < 0.1) {
      await call(m, first.token, 'PATCH', '/api/v1/checkpoints', {
        checkpoints: [{ uuid: c.uuid, resources: { resources: {} } }],
      });
      c.state = 'STATE_DELETED';
    } else if (r < 0.2) {
      await call(m, first.token, 'PATCH', '/api/v1/checkpoints', {
        checkpoints: [{ uuid: c.uuid, resources: { resources: { 'other.bin': '1' } } }],
      });
      c.state = 'STATE_PARTIALLY_DELETED';
    } else if (r < 0.27) {
      const steps = rand() < 0.5 ? null : pick(rand, stepsPool);
      await call(m, first.token, 'POST', `/api/v1/checkpoints/${c.uuid}/metadata`, {
        checkpoint: {
          uuid: c.uuid,
          metadata: steps === null ? { moved: true } : { steps_completed: steps },
        },
      });
      c.steps = steps;
    }
  }
  return { model, trials };
}

/** Every checkpoint list the test compares, for one scope. */
function scopes(model: Model, trials: readonly Seeded[]) {
  const experimentId = trials[0]?.experimentId ?? 0;
  const all = [...model.checkpoints.values()];
  return [
    ...trials.map((t) => ({
      name: `trial ${t.trialId}`,
      path: (q: string) => trialPath(t.trialId, q),
      checkpoints: all.filter((c) => c.trialId === t.trialId),
    })),
    {
      name: `experiment ${experimentId}`,
      path: (q: string) => experimentPath(experimentId, q),
      checkpoints: all,
    },
  ];
}

const STATE_FILTERS: readonly (readonly string[])[] = [
  [],
  ['STATE_COMPLETED'],
  ['STATE_COMPLETED', 'STATE_PARTIALLY_DELETED'],
];

const joinQuery = (...parts: string[]): string => parts.filter((p) => p !== '').join('&');

describeEachDialect('checkpoint order (property)', ({ master }) => {
  for (const [seed, smallerIsBetter] of [
    [1, true],
    [2, false],
    [3, true],
    [4, false],
  ] as const) {
    it(`matches a reference sort for every variant (seed ${seed}, smaller_is_better ${String(smallerIsBetter)})`, async () => {
      const m = master();
      const { model, trials } = await randomHistory(m, seed, smallerIsBetter);
      const token = trials[0]?.token ?? '';
      const metrics = ['validation_loss', ...EXTRA_METRICS];
      // The history must exercise what the rules are about, or the comparison proves little.
      const everything = [...model.checkpoints.values()];
      expect(everything.length).toBeGreaterThan(20);
      expect(everything.some((c) => model.metricOf(c, 'validation_loss') === undefined)).toBe(true);
      expect(
        everything.filter((c) => model.metricOf(c, 'validation_loss') !== undefined).length,
      ).toBeGreaterThan(3);
      expect(everything.some((c) => c.state !== 'STATE_COMPLETED')).toBe(true);
      for (const [i, scope] of scopes(model, trials).entries()) {
        for (const [j, orderBy] of (
          [undefined, 'ORDER_BY_ASC', 'ORDER_BY_DESC'] as const
        ).entries()) {
          for (const [k, variant] of variants(model, metrics, orderBy).entries()) {
            // Each variant meets every state filter across the scopes and orders, in a third
            // of the requests that all combinations would take.
            for (const states of [STATE_FILTERS[(i + j + k) % STATE_FILTERS.length] ?? []]) {
              const stateQuery = states.map((st) => `states=${st}`).join('&');
              const got = await listUuids(
                m,
                token,
                scope.path(joinQuery(variant.query, stateQuery)),
              );
              const want = referenceOrder(scope.checkpoints, variant, states);
              expect(
                got,
                `${scope.name} ${variant.name} ${orderBy ?? ''} [${states.join(',')}]`,
              ).toEqual(want);
            }
          }
        }
      }
    });
  }

  it('pages through any boundary the same as one big page (seeded pages)', async () => {
    const m = master();
    const { model, trials } = await randomHistory(m, 7, true);
    const token = trials[0]?.token ?? '';
    const rand = prng(99);
    for (const scope of scopes(model, trials)) {
      for (const orderBy of [undefined, 'ORDER_BY_ASC', 'ORDER_BY_DESC'] as const) {
        for (const variant of variants(model, ['validation_loss', 'accuracy'], orderBy)) {
          const whole = referenceOrder(scope.checkpoints, variant, []);
          // Determined's client loop: request from offset=endIndex until endIndex >= total.
          const paged: string[] = [];
          let offset = 0;
          for (;;) {
            const limit = 1 + Math.floor(rand() * 6);
            const page = await list(
              m,
              token,
              scope.path(joinQuery(variant.query, `offset=${offset}&limit=${limit}`)),
            );
            expect(page.pagination).toEqual({
              offset,
              limit,
              startIndex: offset,
              endIndex: Math.min(offset + limit, whole.length),
              total: whole.length,
            });
            paged.push(...page.checkpoints.map((c) => c.uuid));
            if (page.pagination.endIndex >= page.pagination.total) {
              break;
            }
            offset = page.pagination.endIndex;
          }
          expect(paged, `${scope.name} ${variant.name} ${orderBy ?? ''}`).toEqual(whole);
        }
      }
    }
  });
});

describeEachDialect('checkpoint order', ({ master }) => {
  /** Checkpoints at steps 10..50 with the given validation values (undefined: no validation). */
  async function ladder(
    m: TestMaster,
    s: Seeded,
    values: readonly (Record<string, unknown> | undefined)[],
  ): Promise<string[]> {
    const uuids: string[] = [];
    for (const [i, metrics] of values.entries()) {
      const steps = (i + 1) * 10;
      uuids.push(await report(m, s, undefined, steps));
      if (metrics !== undefined) {
        await validate(m, s, undefined, steps, metrics);
      }
    }
    return uuids;
  }

  it('sorts best first in the searcher direction when smaller is better', async () => {
    const m = master();
    const s = await seedTrial(m, { smallerIsBetter: true });
    const [a, b, c, none, nan, inf, missing] = await ladder(m, s, [
      { validation_loss: 0.3 },
      { validation_loss: 0.1 },
      { validation_loss: 0.2 },
      undefined,
      { validation_loss: 'NaN' },
      { validation_loss: 'Infinity' },
      { accuracy: 0.9 },
    ]);
    // Missing keys last, in the tie-break order: larger steps first.
    const last = [missing, inf, nan, none];
    const q = 'sortByAttr=SORT_BY_SEARCHER_METRIC';
    expect(await listUuids(m, s.token, trialPath(s.trialId, q))).toEqual([b, c, a, ...last]);
    expect(await listUuids(m, s.token, trialPath(s.trialId, `${q}&orderBy=ORDER_BY_ASC`))).toEqual([
      b,
      c,
      a,
      ...last,
    ]);
    expect(await listUuids(m, s.token, trialPath(s.trialId, `${q}&orderBy=ORDER_BY_DESC`))).toEqual(
      [a, c, b, ...last],
    );
    const top = await list(m, s.token, trialPath(s.trialId, `limit=1&offset=0&${q}`));
    expect(top.checkpoints.map((x) => x.uuid)).toEqual([b]);
    expect(top.checkpoints[0]?.training.searcherMetric).toBe(0.1);
    expect(top.pagination).toEqual({ offset: 0, limit: 1, startIndex: 0, endIndex: 1, total: 7 });
    expect(await listUuids(m, s.token, experimentPath(s.experimentId, q))).toEqual([
      b,
      c,
      a,
      ...last,
    ]);
  });

  it('sorts best first in the searcher direction when larger is better', async () => {
    const m = master();
    const s = await seedTrial(m, { smallerIsBetter: false });
    const [a, b, c, none, ninf] = await ladder(m, s, [
      { validation_loss: 0.3 },
      { validation_loss: 0.1 },
      { validation_loss: 0.2 },
      undefined,
      { validation_loss: '-Infinity' },
    ]);
    const q = 'sortByAttr=SORT_BY_SEARCHER_METRIC';
    expect(await listUuids(m, s.token, trialPath(s.trialId, q))).toEqual([a, c, b, ninf, none]);
    expect(await listUuids(m, s.token, trialPath(s.trialId, `${q}&orderBy=ORDER_BY_ASC`))).toEqual([
      b,
      c,
      a,
      ninf,
      none,
    ]);
    expect(await listUuids(m, s.token, experimentPath(s.experimentId, q))).toEqual([
      a,
      c,
      b,
      ninf,
      none,
    ]);
    // sortByMetric naming the searcher metric follows the searcher's direction too.
    expect(
      await listUuids(m, s.token, trialPath(s.trialId, 'sortByMetric=validation_loss')),
    ).toEqual([a, c, b, ninf, none]);
  });

  it('breaks ties by larger step, then later report, then smaller uuid', async () => {
    const m = master();
    const s = await seedTrial(m);
    const t0 = m.now.ms;
    const u = (n: number): string =>
      `00000000-0000-4000-8000-0000000000${String(n).padStart(2, '0')}`;
    // Same value at steps 10 and 20; at step 20 two reports at the same time and one later.
    await report(m, s, undefined, 10, { uuid: u(1), reportTime: t0 + 5000 });
    await report(m, s, undefined, 20, { uuid: u(4), reportTime: t0 });
    await report(m, s, undefined, 20, { uuid: u(3), reportTime: t0 });
    await report(m, s, undefined, 20, { uuid: u(5), reportTime: t0 + 1000 });
    await report(m, s, undefined, 30, { uuid: u(2), reportTime: t0 });
    await validate(m, s, undefined, 10, { validation_loss: 0.5, accuracy: 1 });
    await validate(m, s, undefined, 20, { validation_loss: 0.5, accuracy: 1 });
    await validate(m, s, undefined, 30, { validation_loss: 0.7, accuracy: 1 });
    const tied = [u(5), u(3), u(4), u(1)];
    for (const order of ['', '&orderBy=ORDER_BY_ASC']) {
      expect(
        await listUuids(
          m,
          s.token,
          trialPath(s.trialId, `sortByAttr=SORT_BY_SEARCHER_METRIC${order}`),
        ),
      ).toEqual([...tied, u(2)]);
    }
    // The tie-break does not flip with the direction.
    expect(
      await listUuids(
        m,
        s.token,
        trialPath(s.trialId, 'sortByAttr=SORT_BY_SEARCHER_METRIC&orderBy=ORDER_BY_DESC'),
      ),
    ).toEqual([u(2), ...tied]);
    // All equal on another metric: the tie-break alone.
    for (const order of ['ORDER_BY_ASC', 'ORDER_BY_DESC']) {
      expect(
        await listUuids(m, s.token, trialPath(s.trialId, `sortByMetric=accuracy&orderBy=${order}`)),
      ).toEqual([u(2), ...tied]);
    }
    // Batch number: equal steps fall back to report time, then uuid.
    expect(
      await listUuids(
        m,
        s.token,
        trialPath(s.trialId, 'sortByAttr=SORT_BY_BATCH_NUMBER&orderBy=ORDER_BY_ASC'),
      ),
    ).toEqual([u(1), u(5), u(3), u(4), u(2)]);
    expect(
      await listUuids(
        m,
        s.token,
        trialPath(s.trialId, 'sortByAttr=SORT_BY_END_TIME&orderBy=ORDER_BY_ASC'),
      ),
    ).toEqual([u(2), u(3), u(4), u(5), u(1)]);
  });

  it('sorts by another metric from the validation JSON, missing last both ways', async () => {
    const m = master();
    const s = await seedTrial(m);
    const [a, b, c, none, str, missing] = await ladder(m, s, [
      { validation_loss: 0.9, accuracy: 0.5 },
      { validation_loss: 0.8, accuracy: 0.75 },
      { validation_loss: 0.7, accuracy: -2 },
      undefined,
      { validation_loss: 0.6, accuracy: 'Infinity' },
      { validation_loss: 0.5 },
    ]);
    const last = [missing, str, none];
    expect(
      await listUuids(
        m,
        s.token,
        trialPath(s.trialId, 'sortByMetric=accuracy&orderBy=ORDER_BY_ASC'),
      ),
    ).toEqual([c, a, b, ...last]);
    expect(
      await listUuids(
        m,
        s.token,
        trialPath(s.trialId, 'sortByMetric=accuracy&orderBy=ORDER_BY_DESC'),
      ),
    ).toEqual([b, a, c, ...last]);
    // A non-searcher metric without orderBy is ascending, as upstream.
    expect(await listUuids(m, s.token, trialPath(s.trialId, 'sortByMetric=accuracy'))).toEqual([
      c,
      a,
      b,
      ...last,
    ]);
    expect(
      await listUuids(
        m,
        s.token,
        experimentPath(s.experimentId, 'sortByMetric=accuracy&orderBy=ORDER_BY_DESC'),
      ),
    ).toEqual([b, a, c, ...last]);
  });

  it('sorts by metric names with spaces, quotes, slashes and non-ASCII', async () => {
    const m = master();
    const s = await seedTrial(m);
    const name = "it's ü/x [0].y";
    const [a, b, none] = await ladder(m, s, [{ [name]: 2 }, { [name]: 1 }, { other: 0 }]);
    const q = `sortByMetric=${encodeURIComponent(name)}&orderBy=ORDER_BY_ASC`;
    expect(await listUuids(m, s.token, trialPath(s.trialId, q))).toEqual([b, a, none]);
    const bad = await m.request('GET', trialPath(s.trialId, 'sortByMetric=a%22b'), {
      token: s.token,
    });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { message: string }).message).toContain('sortByMetric');
    const both = await m.request(
      'GET',
      trialPath(s.trialId, 'sortByMetric=x&sortByAttr=SORT_BY_UUID'),
      { token: s.token },
    );
    expect(both.status).toBe(400);
  });

  it('sorts by batch number both ways, a checkpoint without a step last', async () => {
    const m = master();
    const s = await seedTrial(m);
    const [a, b, c] = await ladder(m, s, [undefined, undefined, undefined]);
    const x = await report(m, s, undefined, 15);
    await call(m, s.token, 'POST', `/api/v1/checkpoints/${x}/metadata`, {
      checkpoint: { uuid: x, metadata: { note: 'no step' } },
    });
    expect(
      await listUuids(
        m,
        s.token,
        trialPath(s.trialId, 'sortByAttr=SORT_BY_BATCH_NUMBER&orderBy=ORDER_BY_ASC'),
      ),
    ).toEqual([a, b, c, x]);
    expect(
      await listUuids(
        m,
        s.token,
        trialPath(s.trialId, 'sortByAttr=SORT_BY_BATCH_NUMBER&orderBy=ORDER_BY_DESC'),
      ),
    ).toEqual([c, b, a, x]);
  });

  it('sorts by uuid, end time, state and trial id', async () => {
    const m = master();
    const s = await seedTrial(m);
    const s2 = await addTrial(m, s);
    const t0 = m.now.ms;
    const u = (n: string): string => `${n.repeat(8)}-0000-4000-8000-000000000000`;
    await report(m, s2, undefined, 10, { uuid: u('c'), reportTime: t0 + 3000 });
    await report(m, s, undefined, 10, { uuid: u('a'), reportTime: t0 + 2000 });
    await report(m, s, undefined, 20, { uuid: u('b'), reportTime: t0 + 4000 });
    await report(m, s2, undefined, 30, { uuid: u('d'), reportTime: t0 + 1000 });
    await call(m, s.token, 'PATCH', '/api/v1/checkpoints', {
      checkpoints: [
        { uuid: u('a'), resources: { resources: {} } },
        { uuid: u('d'), resources: { resources: { x: '1' } } },
      ],
    });
    const ids = (q: string): Promise<string[]> =>
      listUuids(m, s.token, experimentPath(s.experimentId, q));
    expect(await ids('sortByAttr=SORT_BY_UUID&orderBy=ORDER_BY_ASC')).toEqual(
      ['a', 'b', 'c', 'd'].map(u),
    );
    expect(await ids('sortByAttr=SORT_BY_UUID&orderBy=ORDER_BY_DESC')).toEqual(
      ['d', 'c', 'b', 'a'].map(u),
    );
    expect(await ids('sortByAttr=SORT_BY_END_TIME&orderBy=ORDER_BY_ASC')).toEqual(
      ['d', 'a', 'c', 'b'].map(u),
    );
    expect(await ids('sortByAttr=SORT_BY_END_TIME&orderBy=ORDER_BY_DESC')).toEqual(
      ['b', 'c', 'a', 'd'].map(u),
    );
    // COMPLETED (2) < DELETED (4) < PARTIALLY_DELETED (5); ties by larger step first.
    expect(await ids('sortByAttr=SORT_BY_STATE&orderBy=ORDER_BY_ASC')).toEqual(
      ['b', 'c', 'a', 'd'].map(u),
    );
    expect(await ids('sortByAttr=SORT_BY_STATE&orderBy=ORDER_BY_DESC')).toEqual(
      ['d', 'a', 'b', 'c'].map(u),
    );
    expect(await ids('sortByAttr=SORT_BY_TRIAL_ID&orderBy=ORDER_BY_ASC')).toEqual(
      ['b', 'a', 'd', 'c'].map(u),
    );
    expect(await ids('sortByAttr=SORT_BY_TRIAL_ID&orderBy=ORDER_BY_DESC')).toEqual(
      ['d', 'c', 'b', 'a'].map(u),
    );
    // No sort: by trial, then the tie-break.
    expect(await ids('')).toEqual(['b', 'a', 'd', 'c'].map(u));
    expect(await listUuids(m, s.token, trialPath(s2.trialId))).toEqual(['d', 'c'].map(u));
  });

  it('filters by state, one or several states= parameters', async () => {
    const m = master();
    const s = await seedTrial(m);
    const [a, b, c, d] = await ladder(m, s, [undefined, undefined, undefined, undefined]);
    await call(m, s.token, 'PATCH', '/api/v1/checkpoints', {
      checkpoints: [
        { uuid: b, resources: { resources: {} } },
        { uuid: c, resources: { resources: { kept: '1' } } },
      ],
    });
    const q = 'sortByAttr=SORT_BY_BATCH_NUMBER&orderBy=ORDER_BY_ASC';
    const completed = await list(m, s.token, trialPath(s.trialId, `${q}&states=STATE_COMPLETED`));
    expect(completed.checkpoints.map((x) => x.uuid)).toEqual([a, d]);
    expect(completed.checkpoints.every((x) => x.state === 'STATE_COMPLETED')).toBe(true);
    expect(completed.pagination.total).toBe(2);
    const two = await list(
      m,
      s.token,
      trialPath(s.trialId, `${q}&states=STATE_COMPLETED&states=STATE_PARTIALLY_DELETED`),
    );
    expect(two.checkpoints.map((x) => x.uuid)).toEqual([a, c, d]);
    expect(two.pagination.total).toBe(3);
    expect(await listUuids(m, s.token, trialPath(s.trialId, `${q}&states=STATE_DELETED`))).toEqual([
      b,
    ]);
    expect(
      await listUuids(
        m,
        s.token,
        experimentPath(s.experimentId, `${q}&states=STATE_DELETED&states=STATE_PARTIALLY_DELETED`),
      ),
    ).toEqual([b, c]);
    expect((await list(m, s.token, trialPath(s.trialId, q))).pagination.total).toBe(4);
    const bad = await m.request('GET', trialPath(s.trialId, 'states=STATE_BOGUS'), {
      token: s.token,
    });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { message: string }).message).toContain('states');
  });

  it('paginates with offset, limit, limit=0 and negative offsets', async () => {
    const m = master();
    const s = await seedTrial(m);
    const uuids = await ladder(m, s, [undefined, undefined, undefined, undefined, undefined]);
    const q = 'sortByAttr=SORT_BY_BATCH_NUMBER&orderBy=ORDER_BY_ASC';
    const page = (extra: string): Promise<ListResponse> =>
      list(m, s.token, trialPath(s.trialId, `${q}&${extra}`));
    const p1 = await page('offset=1&limit=2');
    expect(p1.checkpoints.map((c) => c.uuid)).toEqual(uuids.slice(1, 3));
    expect(p1.pagination).toEqual({ offset: 1, limit: 2, startIndex: 1, endIndex: 3, total: 5 });
    const all = await page('offset=0&limit=0');
    expect(all.checkpoints.map((c) => c.uuid)).toEqual(uuids);
    expect(all.pagination).toEqual({ offset: 0, limit: 0, startIndex: 0, endIndex: 5, total: 5 });
    const tail = await page('offset=-2');
    expect(tail.checkpoints.map((c) => c.uuid)).toEqual(uuids.slice(3));
    expect(tail.pagination).toEqual({ offset: -2, limit: 0, startIndex: 3, endIndex: 5, total: 5 });
    const tailOne = await page('offset=-2&limit=1');
    expect(tailOne.checkpoints.map((c) => c.uuid)).toEqual(uuids.slice(3, 4));
    const end = await page('offset=5');
    expect(end.checkpoints).toEqual([]);
    expect(end.pagination).toEqual({ offset: 5, limit: 0, startIndex: 5, endIndex: 5, total: 5 });
    const over = await page('offset=3&limit=10');
    expect(over.pagination).toEqual({ offset: 3, limit: 10, startIndex: 3, endIndex: 5, total: 5 });
    for (const bad of ['offset=6', 'offset=-6', 'limit=-1', 'offset=x']) {
      const res = await m.request('GET', trialPath(s.trialId, `${q}&${bad}`), { token: s.token });
      expect(res.status, bad).toBe(400);
    }
    const oob = await m.request('GET', trialPath(s.trialId, 'offset=6'), { token: s.token });
    expect(((await oob.json()) as { message: string }).message).toContain('offset out of bounds');
    const empty = await seedTrial(m);
    const none = await list(m, empty.token, trialPath(empty.trialId, 'offset=0'));
    expect(none).toEqual({
      checkpoints: [],
      pagination: { offset: 0, limit: 0, startIndex: 0, endIndex: 0, total: 0 },
    });
  });

  it('gives every window across the keyed/unkeyed boundary the rows of one big page', async () => {
    const m = master();
    const s = await seedTrial(m);
    // 4 checkpoints with the metric, 4 without (no validation, NaN, missing key), interleaved.
    await ladder(m, s, [
      { validation_loss: 0.4 },
      undefined,
      { validation_loss: 0.1 },
      { validation_loss: 'NaN' },
      { validation_loss: 0.3 },
      { accuracy: 1 },
      { validation_loss: 0.2 },
      undefined,
    ]);
    for (const q of [
      'sortByAttr=SORT_BY_SEARCHER_METRIC',
      'sortByAttr=SORT_BY_SEARCHER_METRIC&orderBy=ORDER_BY_DESC',
      'sortByMetric=accuracy&orderBy=ORDER_BY_DESC',
    ]) {
      const whole = await listUuids(m, s.token, trialPath(s.trialId, q));
      expect(whole).toHaveLength(8);
      for (let offset = -8; offset <= 8; offset++) {
        for (const limit of [0, 1, 2, 3, 5, 9]) {
          const got = await list(
            m,
            s.token,
            trialPath(s.trialId, `${q}&offset=${offset}&limit=${limit}`),
          );
          const start = offset < 0 ? 8 + offset : offset;
          const end = limit === 0 ? 8 : Math.min(8, start + limit);
          expect(
            got.checkpoints.map((c) => c.uuid),
            `${q} offset=${offset} limit=${limit}`,
          ).toEqual(whole.slice(start, end));
          expect(got.pagination).toEqual({
            offset,
            limit,
            startIndex: start,
            endIndex: end,
            total: 8,
          });
        }
      }
    }
  });

  it('reorders when validations arrive after their checkpoints', async () => {
    const m = master();
    const s = await seedTrial(m);
    const [a, b, c] = await ladder(m, s, [undefined, undefined, undefined]);
    const q = trialPath(s.trialId, 'sortByAttr=SORT_BY_SEARCHER_METRIC');
    // Nothing validated: all unkeyed, by the tie-break.
    expect(await listUuids(m, s.token, q)).toEqual([c, b, a]);
    await validate(m, s, undefined, 10, { validation_loss: 0.5 });
    expect(await listUuids(m, s.token, q)).toEqual([a, c, b]);
    await validate(m, s, undefined, 30, { validation_loss: 0.7 });
    await validate(m, s, undefined, 20, { validation_loss: 0.1 });
    expect(await listUuids(m, s.token, q)).toEqual([b, a, c]);
    // A merged re-report at a step that had only another metric gives it the searcher value.
    const d = await report(m, s, undefined, 40);
    await validate(m, s, undefined, 40, { accuracy: 1 });
    expect(await listUuids(m, s.token, q)).toEqual([b, a, c, d]);
    await validate(m, s, undefined, 40, { validation_loss: 0.05 });
    expect(await listUuids(m, s.token, q)).toEqual([d, b, a, c]);
    const got = await call<{ checkpoint: WireCheckpoint }>(
      m,
      s.token,
      'GET',
      `/api/v1/checkpoints/${d}`,
    );
    expect(got.checkpoint.training.searcherMetric).toBe(0.05);
  });

  it('follows a validation re-reported by a later run (rollback)', async () => {
    const m = master();
    const s = await seedTrial(m);
    const [a, b, c] = await ladder(m, s, [
      { validation_loss: 0.5, accuracy: 0.1 },
      { validation_loss: 0.2, accuracy: 0.2 },
      { validation_loss: 0.1, accuracy: 0.3 },
    ]);
    const q = trialPath(s.trialId, 'sortByAttr=SORT_BY_SEARCHER_METRIC');
    const qa = trialPath(s.trialId, 'sortByMetric=accuracy&orderBy=ORDER_BY_DESC');
    expect(await listUuids(m, s.token, q)).toEqual([c, b, a]);
    expect(await listUuids(m, s.token, qa)).toEqual([c, b, a]);
    // The trial restarts from step 20 and reports step 20 again: step 30's validation belongs to
    // the abandoned run and is archived, so c loses its metric; b gets the new value.
    const { trialRunId } = await call<{ trialRunId: number }>(
      m,
      s.token,
      'POST',
      `/api/v1/trials/${s.trialId}/start`,
      { trialId: s.trialId, resume: true },
    );
    const s2 = { ...s, runId: trialRunId };
    await validate(m, s2, undefined, 20, { validation_loss: 0.9, accuracy: 0.05 });
    expect(await listUuids(m, s.token, q)).toEqual([a, b, c]);
    expect(await listUuids(m, s.token, qa)).toEqual([a, b, c]);
    const gotC = await call<{ checkpoint: { training: Record<string, unknown> } }>(
      m,
      s.token,
      'GET',
      `/api/v1/checkpoints/${c}`,
    );
    expect(gotC.checkpoint.training.searcherMetric).toBeUndefined();
    expect(gotC.checkpoint.training.validationMetrics).toEqual({
      avgMetrics: null,
      batchMetrics: [],
    });
    // The new run validates step 30 again: c is back, with the new value.
    await validate(m, s2, undefined, 30, { validation_loss: 0.01, accuracy: 0.5 });
    expect(await listUuids(m, s.token, q)).toEqual([c, a, b]);
    expect(await listUuids(m, s.token, qa)).toEqual([c, a, b]);
  });

  it('follows a training report of a later run that rolls back past validated checkpoints', async () => {
    const m = master();
    const s = await seedTrial(m);
    const [a, b] = await ladder(m, s, [{ validation_loss: 0.5 }, { validation_loss: 0.2 }]);
    const q = trialPath(s.trialId, 'sortByAttr=SORT_BY_SEARCHER_METRIC');
    expect(await listUuids(m, s.token, q)).toEqual([b, a]);
    const { trialRunId } = await call<{ trialRunId: number }>(
      m,
      s.token,
      'POST',
      `/api/v1/trials/${s.trialId}/start`,
      { trialId: s.trialId, resume: true },
    );
    await reportMetric(m, { ...s, runId: trialRunId }, 'training', 15, { loss: 1 });
    expect(await listUuids(m, s.token, q)).toEqual([a, b]);
  });

  it('moves metrics with the step when metadata is replaced', async () => {
    const m = master();
    const s = await seedTrial(m);
    const [a, b] = await ladder(m, s, [{ validation_loss: 0.5 }, { validation_loss: 0.2 }]);
    const x = await report(m, s, undefined, 5);
    const q = trialPath(s.trialId, 'sortByAttr=SORT_BY_SEARCHER_METRIC');
    expect(await listUuids(m, s.token, q)).toEqual([b, a, x]);
    const replaced = await call<{ checkpoint: WireCheckpoint }>(
      m,
      s.token,
      'POST',
      `/api/v1/checkpoints/${x}/metadata`,
      { checkpoint: { uuid: x, metadata: { steps_completed: 20, tag: 'moved' } } },
    );
    expect(replaced.checkpoint.metadata).toEqual({ steps_completed: 20, tag: 'moved' });
    expect(replaced.checkpoint.training.searcherMetric).toBe(0.2);
    // x now shares b's step and value; equal steps and report times fall to the uuid.
    expect(await listUuids(m, s.token, q)).toEqual([[b, x].sort(), a].flat());
    // Detach: metadata without a step drops the metric and the step.
    await call(m, s.token, 'POST', `/api/v1/checkpoints/${b}/metadata`, {
      checkpoint: { uuid: b, metadata: { other: 1 } },
    });
    expect(await listUuids(m, s.token, q)).toEqual([x, a, b]);
    expect(
      await listUuids(
        m,
        s.token,
        trialPath(s.trialId, 'sortByAttr=SORT_BY_BATCH_NUMBER&orderBy=ORDER_BY_DESC'),
      ),
    ).toEqual([x, a, b]);
    // Reattach to a step whose validation is already there.
    await validate(m, s, undefined, 30, { validation_loss: 0.3 });
    await call(m, s.token, 'POST', `/api/v1/checkpoints/${b}/metadata`, {
      checkpoint: { uuid: b, metadata: { steps_completed: 30 } },
    });
    expect(await listUuids(m, s.token, q)).toEqual([x, b, a]);
  });
});

describe('reference sort', () => {
  it('puts missing keys last in both directions and breaks ties the fixed way', () => {
    const mk = (uuid: string, steps: number | null, reportTime: number): ModelCheckpoint => ({
      uuid,
      trialId: 1,
      steps,
      reportTime,
      state: 'STATE_COMPLETED',
    });
    const cs = [mk('b', 1, 0), mk('a', 1, 0), mk('c', 2, 0), mk('d', null, 9), mk('e', 1, 5)];
    const key: Record<string, number | undefined> = { a: 1, b: 1, c: 1, d: 1, e: undefined };
    const variant = (direction: 'asc' | 'desc'): Variant => ({
      name: '',
      query: '',
      key: (c) => key[c.uuid],
      direction,
    });
    expect(referenceOrder(cs, variant('asc'), [])).toEqual(['c', 'a', 'b', 'd', 'e']);
    expect(referenceOrder(cs, variant('desc'), [])).toEqual(['c', 'a', 'b', 'd', 'e']);
  });
});
