import { EXPERIMENT_SORT_BY } from '@determined-ts/api';
import type { ExperimentDto, Pagination, TrialDto } from '@determined-ts/api';
import type { LogEvent } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';

import { seedScale } from '../../test/bulk.js';
import { addTrial, call, reportCheckpoint, reportMetric } from '../../test/flow.js';
import type { Seeded } from '../../test/flow.js';
import { describeEachDialect, openTestMaster, testDialects } from '../../test/helpers.js';
import type { TestMaster } from '../../test/helpers.js';

type List = { experiments: ExperimentDto[]; pagination: Pagination };

async function listIds(m: TestMaster, token: string, query: string): Promise<number[]> {
  const { experiments } = await call<List>(m, token, 'GET', `/api/v1/experiments?${query}`);
  return experiments.map((e) => e.id);
}

/**
 * Four experiments that differ in every sortable way:
 *
 * | exp | owner      | name  | descr | trials | progress | ckpts (bytes) | best value | state     |
 * | E1  | determined | beta  | d3    | 2      | 0.5      | 2 (200)       | 0.3 (min)  | active    |
 * | E2  | other      | alpha | d1    | 0      | -        | 0 (0)         | -          | active    |
 * | E3  | determined | gamma | d2    | 1      | 0.9      | 1 (500)       | 0.9 (max)  | completed |
 * | E4  | admin      | delta | d4    | 3      | 0.1      | 3 (30)        | 0.2 (min)  | active    |
 */
async function fourExperiments(m: TestMaster): Promise<{ ids: number[]; token: string }> {
  const admin = await m.login('admin');
  await call(m, admin, 'POST', '/api/v1/users', { user: { username: 'other' }, password: '' });
  const other = await m.login('other');
  const create = async (token: string, config: string): Promise<Seeded> => {
    m.now.ms += 1000;
    const { experiment } = await call<{ experiment: { id: number } }>(
      m,
      token,
      'POST',
      '/api/v1/experiments',
      { config, unmanaged: true },
    );
    return { token, experimentId: experiment.id, trialId: 0, taskId: '', runId: 0 };
  };
  const storage = `checkpoint_storage: {type: directory, container_path: ${m.storageDir}}`;
  const searcher = (smaller: boolean) =>
    `searcher: {name: single, metric: validation_loss, smaller_is_better: ${String(smaller)}}`;
  const progress = (s: Seeded, value: number) =>
    call(m, s.token, 'POST', `/api/v1/trials/${s.trialId}/progress`, { progress: value });

  const user = await m.login();
  const e1 = await create(user, `{name: beta, description: d3, ${searcher(true)}, ${storage}}`);
  const e1t1 = await addTrial(m, e1);
  const e1t2 = await addTrial(m, e1);
  await progress(e1t1, 0.5);
  await reportMetric(m, e1t1, 'validation', 1, { validation_loss: 0.3 });
  await reportMetric(m, e1t2, 'validation', 1, { validation_loss: 0.4 });
  await reportCheckpoint(m, e1t1, 1, { resources: { 'w.bin': '100' } });
  await reportCheckpoint(m, e1t2, 1, { resources: { 'w.bin': '100' } });

  const e2 = await create(other, `{name: alpha, description: d1, ${searcher(true)}, ${storage}}`);

  const e3 = await create(user, `{name: gamma, description: d2, ${searcher(false)}, ${storage}}`);
  const e3t1 = await addTrial(m, e3);
  await progress(e3t1, 0.9);
  await reportMetric(m, e3t1, 'validation', 1, { validation_loss: 0.5 });
  await reportMetric(m, e3t1, 'validation', 2, { validation_loss: 0.9 });
  await reportCheckpoint(m, e3t1, 2, { resources: { 'w.bin': '500' } });
  await call(m, user, 'PATCH', `/api/v1/trials/${e3t1.trialId}`, { state: 'STATE_COMPLETED' });

  const e4 = await create(admin, `{name: delta, description: d4, ${searcher(true)}, ${storage}}`);
  const e4t1 = await addTrial(m, e4);
  const e4t2 = await addTrial(m, e4);
  await addTrial(m, e4);
  await progress(e4t1, 0.1);
  await reportMetric(m, e4t2, 'validation', 1, { validation_loss: 0.2 });
  for (const steps of [1, 2, 3]) {
    await reportCheckpoint(m, e4t1, steps, { resources: { 'w.bin': '10' } });
  }
  return { ids: [e1, e2, e3, e4].map((e) => e.experimentId), token: user };
}

describeEachDialect('experiment listing', ({ master }) => {
  it('sorts by every key, both ways, with missing values last', async () => {
    const m = master();
    const { ids, token } = await fourExperiments(m);
    const [E1, E2, E3, E4] = ids as [number, number, number, number];
    const byId = [E1, E2, E3, E4];
    // sortBy → [ascending, descending]
    const expected: Record<(typeof EXPERIMENT_SORT_BY)[number], [number[], number[]]> = {
      SORT_BY_UNSPECIFIED: [byId, [...byId].reverse()],
      SORT_BY_ID: [byId, [...byId].reverse()],
      SORT_BY_DESCRIPTION: [
        [E2, E3, E1, E4],
        [E4, E1, E3, E2],
      ],
      SORT_BY_START_TIME: [byId, [...byId].reverse()],
      SORT_BY_END_TIME: [
        [E3, E1, E2, E4],
        [E3, E4, E2, E1],
      ],
      SORT_BY_STATE: [
        [E1, E2, E4, E3],
        [E3, E4, E2, E1],
      ],
      SORT_BY_NUM_TRIALS: [
        [E2, E3, E1, E4],
        [E4, E1, E3, E2],
      ],
      SORT_BY_PROGRESS: [
        [E4, E1, E3, E2],
        [E3, E1, E4, E2],
      ],
      SORT_BY_USER: [
        [E4, E1, E3, E2],
        [E2, E3, E1, E4],
      ],
      SORT_BY_NAME: [
        [E2, E1, E4, E3],
        [E3, E4, E1, E2],
      ],
      SORT_BY_FORKED_FROM: [byId, [...byId].reverse()],
      SORT_BY_RESOURCE_POOL: [byId, [...byId].reverse()],
      SORT_BY_PROJECT_ID: [byId, [...byId].reverse()],
      SORT_BY_CHECKPOINT_SIZE: [
        [E2, E4, E1, E3],
        [E3, E1, E4, E2],
      ],
      SORT_BY_CHECKPOINT_COUNT: [
        [E2, E3, E1, E4],
        [E4, E1, E3, E2],
      ],
      // The best trial's raw value, each experiment in its own direction (E3: the max).
      SORT_BY_SEARCHER_METRIC_VAL: [
        [E4, E1, E3, E2],
        [E3, E1, E4, E2],
      ],
    };
    for (const sortBy of EXPERIMENT_SORT_BY) {
      const [asc, desc] = expected[sortBy];
      expect(await listIds(m, token, `sortBy=${sortBy}`), sortBy).toEqual(asc);
      expect(await listIds(m, token, `sortBy=${sortBy}&orderBy=ORDER_BY_ASC`), sortBy).toEqual(asc);
      expect(await listIds(m, token, `sortBy=${sortBy}&orderBy=ORDER_BY_DESC`), sortBy).toEqual(
        desc,
      );
      // A page of the sorted list is the same slice of it.
      const page = await call<List>(
        m,
        token,
        'GET',
        `/api/v1/experiments?sortBy=${sortBy}&orderBy=ORDER_BY_DESC&offset=1&limit=2`,
      );
      expect(
        page.experiments.map((e) => e.id),
        sortBy,
      ).toEqual(desc.slice(1, 3));
    }
    const { experiments } = await call<List>(m, token, 'GET', `/api/v1/experiments?limit=1`);
    expect(experiments[0]).toMatchObject({
      id: E1,
      numTrials: 2,
      checkpointCount: 2,
      checkpointSize: '200',
      progress: 0.5,
      bestTrialSearcherMetric: 0.3,
    });
  });

  it("filters by the owners' usernames (repeatable), with the name and state filters", async () => {
    const m = master();
    const { ids, token } = await fourExperiments(m);
    const [E1, E2, E3, E4] = ids as [number, number, number, number];
    expect(await listIds(m, token, 'users=determined')).toEqual([E1, E3]);
    expect(await listIds(m, token, 'users=determined&users=other')).toEqual([E1, E2, E3]);
    expect(await listIds(m, token, 'users=admin&sortBy=SORT_BY_NAME')).toEqual([E4]);
    expect(await listIds(m, token, 'users=nobody')).toEqual([]);
    expect(await listIds(m, token, 'users=determined&name=AMM')).toEqual([E3]);
    expect(await listIds(m, token, 'users=determined&states=STATE_ACTIVE')).toEqual([E1]);
    const { pagination } = await call<List>(
      m,
      token,
      'GET',
      '/api/v1/experiments?users=determined',
    );
    expect(pagination.total).toBe(2);
  });
});

/** SQL statements a request ran, captured through kysely's log. */
function recorder(): { log: (event: LogEvent) => void; take: () => string[] } {
  let statements: string[] = [];
  return {
    log: (event) => {
      statements.push(event.query.sql);
    },
    take: () => {
      const out = statements;
      statements = [];
      return out;
    },
  };
}

const READS_CHECKPOINTS = /\bcheckpoints\b/i;

for (const dialect of testDialects()) {
  describe(`listings at scale [${dialect}]`, () => {
    let close: (() => Promise<void>) | undefined;
    afterEach(async () => {
      await close?.();
    });

    it('lists 10,000 experiments by any key, and a trial with 100,000 checkpoints, without summing checkpoints', async () => {
      const sqlLog = recorder();
      const opened = await openTestMaster(dialect, { log: sqlLog.log });
      close = opened.close;
      const m = opened.master;
      const token = await m.login();
      const big = await seedScale(m.deps.db, { experiments: 10_000, checkpoints: 100_000 });
      sqlLog.take();
      // How long these take is measured in bench/ui-scale.ts; this checks what they read.
      const get = (path: string): Promise<unknown> => call(m, token, 'GET', path);
      for (const sortBy of EXPERIMENT_SORT_BY) {
        for (const orderBy of ['ORDER_BY_ASC', 'ORDER_BY_DESC']) {
          const list = (await get(
            `/api/v1/experiments?sortBy=${sortBy}&orderBy=${orderBy}&offset=40&limit=20`,
          )) as List;
          expect(list.experiments).toHaveLength(20);
          expect(list.pagination.total).toBe(10_000);
          const reads = sqlLog.take().filter((s) => READS_CHECKPOINTS.test(s));
          expect(reads, `${sortBy} ${orderBy}`).toEqual([]);
        }
      }
      const sized = (await get(
        '/api/v1/experiments?sortBy=SORT_BY_CHECKPOINT_SIZE&orderBy=ORDER_BY_DESC&limit=1',
      )) as List;
      expect(sized.experiments[0]).toMatchObject({
        id: big.experimentId,
        checkpointCount: 100_000,
      });
      sqlLog.take();

      // The big trial: its listing, its page and its markers read a bounded number of rows.
      const trials = (await get(`/api/v1/experiments/${big.experimentId}/trials`)) as {
        trials: TrialDto[];
      };
      expect(trials.trials[0]).toMatchObject({ id: big.trialId, checkpointCount: 100_000 });
      expect(trials.trials[0]?.bestCheckpoint?.uuid).toBeDefined();
      const trial = (await get(`/api/v1/trials/${big.trialId}`)) as { trial: TrialDto };
      expect(trial.trial.checkpointCount).toBe(100_000);
      const page = async (query: string): Promise<unknown[]> =>
        ((await get(`/api/v1/trials/${big.trialId}/checkpoints?${query}`)) as { checkpoints: [] })
          .checkpoints;
      expect(await page('sortByAttr=SORT_BY_SIZE&orderBy=ORDER_BY_DESC&limit=20')).toHaveLength(20);
      expect(await page('sortByAttr=SORT_BY_SIZE&limit=20&offset=50000')).toHaveLength(20);
      expect(await page('sortByAttr=SORT_BY_SEARCHER_METRIC&limit=1')).toHaveLength(1);
      const markers = (await get(`/api/v1/trials/${big.trialId}/checkpoint-markers`)) as {
        markers: unknown[];
        total: number;
      };
      expect(markers.total).toBe(100_000);
      expect(markers.markers.length).toBeLessThanOrEqual(500);
      expect(markers.markers.length).toBeGreaterThan(400);
    }, 120_000);
  });
}
