import type { CheckpointMarkersResponse } from '@determined-ts/api';
import { expect, it } from 'vitest';

import { call, reportCheckpoint, reportMetric, seedTrial, testUuid } from '../../test/flow.js';
import type { Seeded } from '../../test/flow.js';
import { describeEachDialect } from '../../test/helpers.js';
import type { TestMaster } from '../../test/helpers.js';

async function markers(m: TestMaster, s: Seeded, query = ''): Promise<CheckpointMarkersResponse> {
  return call<CheckpointMarkersResponse>(
    m,
    s.token,
    'GET',
    `/api/v1/trials/${s.trialId}/checkpoint-markers${query}`,
  );
}

/** What the test knows of a seeded checkpoint. */
interface Seed {
  uuid: string;
  steps: number;
  reportTime: number;
  metric: number | undefined;
}

/**
 * 2,000 checkpoints at steps 5, 10, …, 10,000 with a searcher value every 10th step (scattered;
 * the minimum, 0.0001, at step 6,170); the last has none, so best and latest differ.
 *
 * Inserted in bulk, with the searcher value and counters the services would store: on
 * PostgreSQL, 2,000 reports over HTTP take half a minute on this machine. The few-checkpoint
 * test above goes through the report routes.
 */
async function twoThousand(m: TestMaster, s: Seeded): Promise<Seed[]> {
  const seeds: Seed[] = [];
  for (let i = 1; i <= 2000; i += 1) {
    const steps = i * 5;
    const metric =
      steps === 6170 ? 0.0001 : steps % 10 === 0 ? ((i * 7919) % 997) / 1000 + 0.01 : undefined;
    seeds.push({ uuid: testUuid(), steps, reportTime: m.now.ms + i, metric });
  }
  const db = m.deps.db.kysely;
  for (let i = 0; i < seeds.length; i += 500) {
    await db
      .insertInto('checkpoints')
      .values(
        seeds.slice(i, i + 500).map((seed) => ({
          uuid: seed.uuid,
          trial_id: s.trialId,
          task_id: s.taskId,
          allocation_id: null,
          report_time: seed.reportTime,
          state: 'STATE_COMPLETED',
          resources: JSON.stringify({ 'model.bin': seed.steps }),
          metadata: JSON.stringify({ steps_completed: seed.steps }),
          size: seed.steps,
          steps_completed: seed.steps,
          storage_id: null,
          digests: null,
          searcher_metric: seed.metric ?? null,
        })),
      )
      .execute();
  }
  await db
    .insertInto('checkpoint_counts')
    .values({
      trial_id: s.trialId,
      state: 'STATE_COMPLETED',
      n: seeds.length,
      bytes: seeds.reduce((sum, x) => sum + x.steps, 0),
    })
    .execute();
  return seeds;
}

/** The thinning rule, computed independently: which uuids must come back. */
function expectedThinning(seeds: readonly Seed[], max: number, keep: readonly Seed[]): string[] {
  const buckets = max - keep.length;
  const lo = Math.min(...seeds.map((x) => x.steps));
  const span = Math.max(...seeds.map((x) => x.steps)) - lo + 1;
  const winners = new Map<number, Seed>();
  const better = (a: Seed, b: Seed): boolean => {
    if ((a.metric === undefined) !== (b.metric === undefined)) {
      return a.metric !== undefined;
    }
    if (a.metric !== undefined && b.metric !== undefined && a.metric !== b.metric) {
      return a.metric < b.metric;
    }
    return a.steps !== b.steps ? a.steps > b.steps : a.reportTime > b.reportTime;
  };
  for (const seed of seeds) {
    const bucket = Math.floor(((seed.steps - lo) * buckets) / span);
    const current = winners.get(bucket);
    if (current === undefined || better(seed, current)) {
      winners.set(bucket, seed);
    }
  }
  const all = new Map([...keep, ...winners.values()].map((x) => [x.uuid, x]));
  return [...all.values()].sort((a, b) => a.steps - b.steps).map((x) => x.uuid);
}

describeEachDialect('checkpoint markers', ({ master }) => {
  it('returns every checkpoint not deleted, in step order, when they fit', async () => {
    const m = master();
    const s = await seedTrial(m);
    await reportMetric(m, s, 'validation', 20, { validation_loss: 0.5 });
    const c30 = await reportCheckpoint(m, s, 30, { resources: { 'a.bin': '30' } });
    m.now.ms += 1000;
    const c20 = await reportCheckpoint(m, s, 20, { resources: { 'a.bin': '20' } });
    const gone = await reportCheckpoint(m, s, 25);
    const partial = await reportCheckpoint(m, s, 10, {
      resources: { 'a.bin': '10', 'b.bin': '5' },
    });
    await call(m, s.token, 'PATCH', '/api/v1/checkpoints', {
      checkpoints: [
        { uuid: gone, resources: { resources: {} } },
        { uuid: partial, resources: { resources: { 'a.bin': '10' } } },
      ],
    });
    const body = await markers(m, s);
    expect(body.total).toBe(3);
    expect(body.markers).toEqual([
      {
        uuid: partial,
        stepsCompleted: 10,
        state: 'STATE_PARTIALLY_DELETED',
        reportTime: new Date(m.now.ms).toISOString(),
        size: '10',
      },
      {
        uuid: c20,
        stepsCompleted: 20,
        state: 'STATE_COMPLETED',
        reportTime: new Date(m.now.ms).toISOString(),
        size: '20',
        searcherMetric: 0.5,
      },
      {
        uuid: c30,
        stepsCompleted: 30,
        state: 'STATE_COMPLETED',
        reportTime: new Date(m.now.ms - 1000).toISOString(),
        size: '30',
      },
    ]);
    const empty = await seedTrial(m);
    expect(await markers(m, empty, '?maxMarkers=1')).toEqual({ markers: [], total: 0 });
  });

  it('thins 2,000 checkpoints to at most maxMarkers, one per step bucket, always keeping the best and the latest', async () => {
    const m = master();
    const s = await seedTrial(m);
    const seeds = await twoThousand(m, s);
    const best = seeds.find((x) => x.steps === 6170);
    const latest = seeds[seeds.length - 1];
    if (best === undefined || latest === undefined) {
      throw new Error('seeding went wrong');
    }
    for (const max of [50, 137, 500, 1999]) {
      const body = await markers(m, s, `?maxMarkers=${max}`);
      expect(body.total).toBe(2000);
      const uuids = body.markers.map((x) => x.uuid);
      expect(uuids.length, `max ${max}`).toBeLessThanOrEqual(max);
      expect(uuids).toContain(best.uuid);
      expect(uuids).toContain(latest.uuid);
      const steps = body.markers.map((x) => x.stepsCompleted);
      expect([...steps].sort((a, b) => a - b)).toEqual(steps);
      expect(uuids, `max ${max}`).toEqual(expectedThinning(seeds, max, [best, latest]));
    }
    // The default is 500; here best and latest also win their buckets, so 498 come back.
    expect((await markers(m, s)).markers.map((x) => x.uuid)).toEqual(
      expectedThinning(seeds, 500, [best, latest]),
    );
    // Two markers: the best and the latest; one: the best.
    expect((await markers(m, s, '?maxMarkers=2')).markers.map((x) => x.uuid)).toEqual([
      best.uuid,
      latest.uuid,
    ]);
    expect((await markers(m, s, '?maxMarkers=1')).markers.map((x) => x.uuid)).toEqual([best.uuid]);
    const all = await markers(m, s, '?maxMarkers=2000');
    expect(all.markers.map((x) => x.uuid)).toEqual(seeds.map((x) => x.uuid));
    expect(all.markers.find((x) => x.uuid === best.uuid)).toMatchObject({
      searcherMetric: 0.0001,
      size: '6170',
      state: 'STATE_COMPLETED',
    });
  }, 120_000);
});
