import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  addTrial,
  createTrial,
  masterTargets,
  reportCheckpoint,
  reportMetrics,
  testUuid,
} from '../../test/master.js';
import type { MasterTarget, SeededTrial } from '../../test/master.js';
import { createClient } from '../client.js';
import type { Client } from '../client.js';
import { ApiError } from '../errors.js';
import { listCheckpointsPage } from './checkpoints.js';
import { listExperiments, listTrials } from './experiments.js';
import { getCheckpointMarkers, getTrialLogs, getTrialMetricSeries } from './metrics.js';
import { getCurrentUser, login, logout } from './users.js';

/*
 * The browsing calls the web UI makes (experiments, trials, metric series, checkpoint markers,
 * logs, sign-in), on our real master: in-process per dialect and over loopback. Seed: experiment
 * "alpha-run" (validation_loss, smaller is better) with trials A and B, and "beta-run" with one
 * trial and no validations.
 */

const LOSS_A = [0.9, 0.4, 0.2, 0.3, 0.5]; // best at step 3, latest at step 5
const LOSS_B = [0.8, 0.6];

interface Seed {
  client: Client;
  alpha: SeededTrial;
  trialB: SeededTrial;
  beta: SeededTrial;
  /** Trial A's checkpoints by step (1-based). */
  uuidsA: string[];
}

async function seed(master: MasterTarget): Promise<Seed> {
  const client = await master.login();
  const alpha = await createTrial(client, { storageDir: master.storageDir, smallerIsBetter: true });
  const trialB = await addTrial(client, alpha.experimentId, { lr: 0.2 });
  const uuidsA: string[] = [];
  for (const [i, loss] of LOSS_A.entries()) {
    const steps = i + 1;
    await reportMetrics(client, alpha, 'training', steps, { loss: loss * 2, lr: 0.1 });
    await reportMetrics(client, alpha, 'validation', steps, { validation_loss: loss });
    const uuid = testUuid(1);
    uuidsA.push(uuid);
    // Sizes grow with the step, so size order is step order.
    await reportCheckpoint(client, alpha, { uuid, steps, resources: { 'w.bin': 100 * steps } });
  }
  for (const [i, loss] of LOSS_B.entries()) {
    await reportMetrics(client, trialB, 'validation', i + 1, { validation_loss: loss });
    await reportCheckpoint(client, trialB, { uuid: testUuid(2), steps: i + 1 });
  }
  const beta = await createTrial(client, { storageDir: master.storageDir });
  await client.request('POST', '/task-logs', {
    body: ['first line', 'second line', 'third line'].map((log, i) => ({
      task_id: alpha.taskId,
      timestamp: new Date(Date.UTC(2025, 0, 1, 0, 0, i)).toISOString(),
      log: `${log}\n`,
      stdtype: 'stdout',
    })),
  });
  return { client, alpha, trialB, beta, uuidsA };
}

describe.each(masterTargets())('browsing calls on $name', ({ start }) => {
  let master: MasterTarget;
  let s: Seed;

  beforeAll(async () => {
    master = await start();
    s = await seed(master);
  });
  afterAll(async () => {
    await master?.close();
  });

  it('lists experiments with their aggregates, filtered, sorted and paged by the master', async () => {
    const all = await listExperiments(s.client, { sortBy: 'id' });
    expect(all.pagination.total).toBe(2);
    const alpha = all.experiments.find((e) => e.id === s.alpha.experimentId);
    expect(alpha).toMatchObject({
      numTrials: 2,
      checkpointCount: 7,
      // 100+200+…+500 for A, two default 120-byte checkpoints for B.
      checkpointSize: 1500 + 240,
      searcherMetric: 'validation_loss',
      smallerIsBetter: true,
      bestTrialSearcherMetric: 0.2,
      bestTrialId: s.alpha.trialId,
      username: 'determined',
    });

    const desc = await listExperiments(s.client, { sortBy: 'id', orderBy: 'desc', limit: 1 });
    expect(desc.experiments.map((e) => e.id)).toEqual([s.beta.experimentId]);
    expect(desc.pagination).toMatchObject({ total: 2, startIndex: 0, endIndex: 1 });

    const second = await listExperiments(s.client, { sortBy: 'id', offset: 1, limit: 1 });
    expect(second.experiments.map((e) => e.id)).toEqual([s.beta.experimentId]);

    const byCount = await listExperiments(s.client, {
      sortBy: 'checkpointCount',
      orderBy: 'desc',
    });
    expect(byCount.experiments[0]?.id).toBe(s.alpha.experimentId);

    const filtered = await listExperiments(s.client, { name: 'no-such-name' });
    expect(filtered.experiments).toEqual([]);
    expect(filtered.pagination.total).toBe(0);

    const mine = await listExperiments(s.client, { users: ['determined'] });
    expect(mine.pagination.total).toBe(2);
    const theirs = await listExperiments(s.client, { users: ['admin'] });
    expect(theirs.pagination.total).toBe(0);
  });

  it("lists an experiment's trials with best and latest validations, sorted by the best", async () => {
    const { trials, pagination } = await listTrials(s.client, s.alpha.experimentId, {
      sortBy: 'bestValidation',
    });
    expect(pagination.total).toBe(2);
    // A's best is 0.2, B's 0.6: ascending puts A first.
    expect(trials.map((t) => t.id)).toEqual([s.alpha.trialId, s.trialB.trialId]);
    const a = trials[0];
    expect(a?.bestValidation).toMatchObject({
      stepsCompleted: 3,
      metrics: { validation_loss: 0.2 },
    });
    expect(a?.latestValidation).toMatchObject({
      stepsCompleted: 5,
      metrics: { validation_loss: 0.5 },
    });
    expect(a?.searcherMetricValue).toBe(0.2);
    expect(a?.bestCheckpointUuid).toBe(s.uuidsA[2]);
    expect(a?.checkpointCount).toBe(5);
    expect(a?.totalCheckpointSize).toBe(1500);
    expect(a?.summaryMetrics?.avg_metrics?.loss).toMatchObject({
      type: 'number',
      count: 5,
      min: 0.4,
      max: 1.8,
      last: 1,
    });
    expect(a?.summaryMetrics?.validation_metrics?.validation_loss).toMatchObject({ count: 5 });

    const reversed = await listTrials(s.client, s.alpha.experimentId, {
      sortBy: 'bestValidation',
      orderBy: 'desc',
      limit: 1,
    });
    expect(reversed.trials.map((t) => t.id)).toEqual([s.trialB.trialId]);
  });

  it('reads a downsampled metric series that keeps the first and last report', async () => {
    const full = await getTrialMetricSeries(s.client, s.alpha.trialId, { group: 'training' });
    expect(full.map((p) => p.batches)).toEqual([1, 2, 3, 4, 5]);
    expect(full.map((p) => p.values.loss)).toEqual(LOSS_A.map((l) => l * 2));
    expect(full[0]?.time).toBeInstanceOf(Date);

    const some = await getTrialMetricSeries(s.client, s.alpha.trialId, {
      group: 'training',
      metricNames: ['loss'],
      maxDatapoints: 3,
    });
    expect(some.length).toBeLessThanOrEqual(3);
    expect(some[0]?.batches).toBe(1);
    expect(some.at(-1)?.batches).toBe(5);
    expect(Object.keys(some[0]?.values ?? {})).toEqual(['loss']);

    const validation = await getTrialMetricSeries(s.client, s.alpha.trialId, {
      group: 'validation',
    });
    expect(validation.map((p) => p.values.validation_loss)).toEqual(LOSS_A);
  });

  it('places the checkpoints on the curve, thinned but never without the best and latest', async () => {
    const all = await getCheckpointMarkers(s.client, s.alpha.trialId);
    expect(all.total).toBe(5);
    expect(all.markers.map((m) => m.uuid)).toEqual(s.uuidsA);
    expect(all.markers.map((m) => m.stepsCompleted)).toEqual([1, 2, 3, 4, 5]);
    expect(all.markers.map((m) => m.searcherMetric)).toEqual(LOSS_A);
    expect(all.markers[0]).toMatchObject({ state: 'COMPLETED', size: 100 });

    const thin = await getCheckpointMarkers(s.client, s.alpha.trialId, { maxMarkers: 2 });
    expect(thin.total).toBe(5);
    expect(thin.markers.map((m) => m.uuid).sort()).toEqual([s.uuidsA[2], s.uuidsA[4]].sort());
  });

  it('sorts checkpoints by size', async () => {
    const page = await listCheckpointsPage(
      s.client,
      { trialId: s.alpha.trialId },
      { offset: 0, limit: 2, sortBy: { attr: 'size' }, orderBy: 'desc' },
    );
    expect(page.checkpoints.map((c) => c.uuid)).toEqual([s.uuidsA[4], s.uuidsA[3]]);
  });

  it('reads the head, the tail and a search of the logs, oldest first', async () => {
    const head = await getTrialLogs(s.client, s.alpha.trialId, { limit: 2 });
    expect(head.map((l) => l.message)).toEqual(['first line\n', 'second line\n']);
    const tail = await getTrialLogs(s.client, s.alpha.trialId, { limit: 2, tail: true });
    expect(tail.map((l) => l.message)).toEqual(['second line\n', 'third line\n']);
    expect(tail[0]?.stdtype).toBe('stdout');
    const found = await getTrialLogs(s.client, s.alpha.trialId, { searchText: 'third' });
    expect(found.map((l) => l.message)).toEqual(['third line\n']);
  });

  it('signs in, says who is signed in, refuses a wrong password and signs out', async () => {
    const anonymous = createClient({ baseUrl: master.baseUrl, fetch: master.fetch });
    const { token, user } = await login(anonymous, 'determined', '');
    expect(user.username).toBe('determined');
    const session = anonymous.withToken(token);
    expect((await getCurrentUser(session)).username).toBe('determined');

    // `determined` has the empty password, so any other is wrong.
    const wrong = await login(anonymous, 'determined', 'nope').catch((e: unknown) => e);
    expect(wrong).toBeInstanceOf(ApiError);
    expect((wrong as ApiError).code).toBe('unauthenticated');

    await logout(session);
    const after = await getCurrentUser(session).catch((e: unknown) => e);
    expect(after).toBeInstanceOf(ApiError);
    expect((after as ApiError).status).toBe(401);
  });
});
