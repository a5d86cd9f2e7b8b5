// A client whose request died with its replica sends it again, possibly to another replica,
// possibly while the first attempt is still running there. Two apps on one database stand in
// for two replicas; every retried write below lands once.
import type { ExperimentDto, TrialDto } from '@determined-ts/api';
import { expect, it } from 'vitest';

import { call, seedTrial, testUuid } from '../../test/flow.js';
import { describeEachDialect } from '../../test/helpers.js';
import type { TestMaster } from '../../test/helpers.js';
import { createApp } from '../app.js';

/** Each attempt of a retried write, on both replicas at once. */
const ATTEMPTS = 6;

/** A second replica: its own app (and per-process state) on the first one's database. */
function secondReplica(m: TestMaster): TestMaster {
  const app = createApp({ ...m.deps });
  return {
    ...m,
    app,
    request: (method, path, init = {}) =>
      Promise.resolve(
        app.request(path, {
          method,
          headers: {
            ...init.headers,
            ...(init.token === undefined ? {} : { authorization: `Bearer ${init.token}` }),
          },
          body: init.rawBody ?? (init.body === undefined ? undefined : JSON.stringify(init.body)),
        }),
      ),
  };
}

/** Sends the same write `ATTEMPTS` times at once, alternating replicas. */
function retried<T>(replicas: TestMaster[], send: (m: TestMaster) => Promise<T>): Promise<T[]> {
  return Promise.all(
    Array.from({ length: ATTEMPTS }, (_, i) => send(replicas[i % replicas.length]!)),
  );
}

describeEachDialect('retried writes across replicas', ({ master }) => {
  it('creates one experiment per external id', async () => {
    const m = master();
    const token = await m.login();
    const answers = await retried([m, secondReplica(m)], (r) =>
      call<{ experiment: ExperimentDto }>(
        r,
        token,
        'PUT',
        '/api/v1/experiments/by-external-id/x-1',
        {
          config: '{name: retried, searcher: {name: single, metric: loss}}',
          unmanaged: true,
        },
      ),
    );
    expect(new Set(answers.map((a) => a.experiment.id)).size).toBe(1);
    const rows = await m.deps.db.kysely
      .selectFrom('experiments')
      .select('id')
      .where('external_id', '=', 'x-1')
      .execute();
    expect(rows).toHaveLength(1);
  });

  it('creates one trial per external id, and starts it', async () => {
    const m = master();
    const s = await seedTrial(m);
    const replicas = [m, secondReplica(m)];
    const answers = await retried(replicas, (r) =>
      call<{ trial: TrialDto }>(r, s.token, 'PUT', '/api/v1/trials', {
        createTrialRequest: { experimentId: s.experimentId, hparams: { lr: 1 }, unmanaged: true },
        externalTrialId: 't-1',
      }),
    );
    const ids = new Set(answers.map((a) => a.trial.id));
    expect(ids.size).toBe(1);
    expect(new Set(answers.map((a) => a.trial.taskId)).size).toBe(1);
    const rows = await m.deps.db.kysely
      .selectFrom('trials')
      .select('id')
      .where('external_id', '=', 't-1')
      .execute();
    expect(rows).toHaveLength(1);
    // Starting is not idempotent: each start is a new run, concurrent ones on two replicas
    // included (they used to read the same run and answer the same id on PostgreSQL). A client
    // goes on with the run id of the answer it got.
    const [id] = [...ids];
    const starts = await retried(replicas, (r) =>
      call<{ trialRunId: number }>(r, s.token, 'POST', `/api/v1/trials/${id}/start`, {
        trialId: id,
        resume: true,
      }),
    );
    expect(new Set(starts.map((a) => a.trialRunId)).size).toBe(ATTEMPTS);
  });

  it('stores a checkpoint report once, and refuses the same uuid with other content', async () => {
    const m = master();
    const s = await seedTrial(m);
    const replicas = [m, secondReplica(m)];
    const uuid = testUuid();
    const report = (resources: Record<string, string>) => ({
      uuid,
      taskId: s.taskId,
      allocationId: null,
      reportTime: new Date(m.now.ms).toISOString(),
      state: 'STATE_COMPLETED',
      resources,
      metadata: { steps_completed: 4 },
      training: {},
      storageId: null,
    });
    await retried(replicas, (r) =>
      call(r, s.token, 'POST', '/api/v1/checkpoints', report({ 'model.bin': '10' })),
    );
    const rows = await m.deps.db.kysely
      .selectFrom('checkpoints')
      .select('uuid')
      .where('uuid', '=', uuid)
      .execute();
    expect(rows).toHaveLength(1);
    const conflicts = await retried(replicas, (r) =>
      r.request('POST', '/api/v1/checkpoints', {
        token: s.token,
        body: report({ 'model.bin': '11' }),
      }),
    );
    expect(conflicts.map((res) => res.status)).toEqual(Array(ATTEMPTS).fill(409));
  });
});
