import type { CheckpointDto, TrialDto } from '@determined-ts/api';
import { describe, expect, it } from 'vitest';

import { createApp } from '../../app.js';
import { silentLogger } from '../../logger.js';
import { testDb, testDialects } from '../../../test/helpers.js';
import { migrate } from '../connect.js';
import type { Db } from '../connect.js';

/** A database at 0001 with what a master of that version stored. */
async function seedAt0001(db: Db): Promise<{ trial: number; idle: number; archivedId: number }> {
  const k = db.kysely;
  const owner = await k
    .selectFrom('users')
    .select('id')
    .where('username', '=', 'determined')
    .executeTakeFirstOrThrow();
  const experiment = await k
    .insertInto('experiments')
    .values({
      name: 'old',
      description: '',
      owner_id: owner.id,
      state: 'STATE_ACTIVE',
      config: JSON.stringify({
        searcher: { name: 'single', metric: 'validation_loss', smaller_is_better: true },
        checkpoint_storage: { type: 'directory', container_path: '/tmp/none' },
      }),
      original_config: '',
      searcher_name: 'single',
      searcher_metric: 'validation_loss',
      smaller_is_better: 1,
      unmanaged: 1,
      external_id: null,
      archived: 0,
      labels: '[]',
      notes: '',
      start_time: 1000,
      end_time: null,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  const trial = (taskId: string) =>
    k
      .insertInto('trials')
      .values({
        experiment_id: experiment.id,
        task_id: taskId,
        state: 'STATE_ACTIVE',
        hparams: '{}',
        run_id: 2,
        restarts: 1,
        start_time: 1000,
        end_time: null,
        external_id: null,
        total_batches: 2,
        progress: null,
        storage_id: null,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
  const t1 = await trial('task-1');
  const t2 = await trial('task-2');
  const metric = (group: string, steps: number, avg: object, archived = 0, endTime = 2000) =>
    k
      .insertInto('metrics')
      .values({
        trial_id: t1.id,
        trial_run_id: archived === 1 ? 1 : 2,
        metric_group: group,
        total_batches: steps,
        end_time: endTime + steps,
        avg_metrics: JSON.stringify(avg),
        batch_metrics: null,
        archived,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
  await metric('training', 1, { loss: 2 });
  await metric('training', 2, { loss: 4 });
  await metric('validation', 1, { validation_loss: 0.5 });
  await metric('validation', 2, { validation_loss: 0.3 });
  // Archived by a restart: ignored.
  const archived = await metric('validation', 3, { validation_loss: 0.01 }, 1);
  const checkpoint = (uuid: string, state: string, size: number, steps: number) =>
    k
      .insertInto('checkpoints')
      .values({
        uuid,
        trial_id: t1.id,
        task_id: 'task-1',
        allocation_id: null,
        report_time: 3000 + steps,
        state,
        resources: JSON.stringify({ 'w.bin': size }),
        metadata: JSON.stringify({ steps_completed: steps }),
        size,
        steps_completed: steps,
        storage_id: null,
        digests: null,
        searcher_metric: steps === 2 ? 0.3 : 0.5,
      })
      .execute();
  await checkpoint('00000000-0000-4000-8000-00000000aa01', 'STATE_COMPLETED', 10, 1);
  await checkpoint('00000000-0000-4000-8000-00000000aa02', 'STATE_COMPLETED', 20, 2);
  await checkpoint('00000000-0000-4000-8000-00000000aa03', 'STATE_PARTIALLY_DELETED', 5, 2);
  await k
    .insertInto('checkpoint_counts')
    .values([
      { trial_id: t1.id, state: 'STATE_COMPLETED', n: 2 },
      { trial_id: t1.id, state: 'STATE_PARTIALLY_DELETED', n: 1 },
    ])
    .execute();
  return { trial: t1.id, idle: t2.id, archivedId: archived.id };
}

/** A master app on `db`, signed in as `determined`: GETs a path and returns the answer. */
async function masterOn(db: Db): Promise<(path: string) => Promise<Response>> {
  const app = createApp({
    db,
    clock: () => 10_000,
    logger: silentLogger,
    settings: {
      version: 'test',
      masterId: 'm',
      clusterName: '',
      maxBodyBytes: 1 << 20,
      sessionTtlMs: 60_000,
      defaultCheckpointStorage: { type: 'directory', container_path: '/tmp/none' },
    },
  });
  const login = await app.request('/api/v1/auth/login', {
    method: 'POST',
    body: JSON.stringify({ username: 'determined', password: '' }),
  });
  const { token } = (await login.json()) as { token: string };
  return async (path) => app.request(path, { headers: { authorization: `Bearer ${token}` } });
}

for (const dialect of testDialects()) {
  describe(`migration 0003_checkpoint_crc32c [${dialect}]`, () => {
    it('adds a nullable crc32c column that existing checkpoints leave empty', async () => {
      const db = await testDb(dialect, { upTo: '0002_trial_summaries' });
      try {
        await seedAt0001(db);
        const result = await migrate(db);
        expect(result.results?.map((r) => [r.migrationName, r.status])).toEqual([
          ['0003_checkpoint_crc32c', 'Success'],
          ['0004_access_tokens', 'Success'],
          ['0005_model_registry', 'Success'],
          ['0006_checkpoint_deletions', 'Success'],
          ['0007_ingest_indexes', 'Success'],
          ['0008_checkpoint_state_order', 'Success'],
        ]);
        const rows = await db.kysely
          .selectFrom('checkpoints')
          .select(['uuid', 'crc32c'])
          .orderBy('uuid')
          .execute();
        expect(rows.map((r) => r.crc32c)).toEqual([null, null, null]);
        const uuid = '00000000-0000-4000-8000-00000000aa01';
        const get = await masterOn(db);
        const before = (await (await get(`/api/v1/checkpoints/${uuid}`)).json()) as {
          checkpoint: CheckpointDto;
        };
        expect('crc32c' in before.checkpoint).toBe(false);
        await db.kysely
          .updateTable('checkpoints')
          .set({ crc32c: JSON.stringify({ 'w.bin': '0a1b2c3d' }) })
          .where('uuid', '=', uuid)
          .execute();
        const after = (await (await get(`/api/v1/checkpoints/${uuid}`)).json()) as {
          checkpoint: CheckpointDto;
        };
        expect(after.checkpoint.crc32c).toEqual({ 'w.bin': '0a1b2c3d' });
        expect((await migrate(db)).results).toEqual([]);
      } finally {
        await db.close();
      }
    });
  });

  describe(`migration 0002_trial_summaries [${dialect}]`, () => {
    it('adds the columns and backfills summaries, best and latest validations and counter bytes', async () => {
      const db = await testDb(dialect, { upTo: '0001_initial' });
      try {
        const seeded = await seedAt0001(db);
        const result = await migrate(db);
        expect(result.results?.map((r) => [r.migrationName, r.status])).toEqual([
          ['0002_trial_summaries', 'Success'],
          ['0003_checkpoint_crc32c', 'Success'],
          ['0004_access_tokens', 'Success'],
          ['0005_model_registry', 'Success'],
          ['0006_checkpoint_deletions', 'Success'],
          ['0007_ingest_indexes', 'Success'],
          ['0008_checkpoint_state_order', 'Success'],
        ]);
        const counts = await db.kysely
          .selectFrom('checkpoint_counts')
          .select(['state', 'n', 'bytes'])
          .orderBy('state')
          .execute();
        expect(counts.map((c) => [c.state, Number(c.n), Number(c.bytes)])).toEqual([
          ['STATE_COMPLETED', 2, 30],
          ['STATE_PARTIALLY_DELETED', 1, 5],
        ]);
        const trials = await db.kysely.selectFrom('trials').selectAll().orderBy('id').execute();
        const [t1, t2] = trials;
        expect(t1?.searcher_metric_value).toBe(0.3);
        expect(t1?.best_validation_id).not.toBeNull();
        expect(t1?.best_validation_id).toBe(t1?.latest_validation_id);
        expect(t1?.best_validation_id).not.toBe(seeded.archivedId);
        expect(JSON.parse(t1?.summary_metrics ?? 'null')).toEqual({
          avg_metrics: {
            loss: { type: 'number', count: 2, sum: 6, min: 2, max: 4, mean: 3, last: 4 },
          },
          validation_metrics: {
            validation_loss: {
              type: 'number',
              count: 2,
              sum: 0.8,
              min: 0.3,
              max: 0.5,
              mean: 0.4,
              last: 0.3,
            },
          },
        });
        expect(t2).toMatchObject({
          summary_metrics: null,
          best_validation_id: null,
          latest_validation_id: null,
          searcher_metric_value: null,
        });
        // And the master serves them.
        const get = await masterOn(db);
        const { trial } = (await (await get(`/api/v1/trials/${seeded.trial}`)).json()) as {
          trial: TrialDto;
        };
        expect(trial).toMatchObject({
          checkpointCount: 3,
          totalCheckpointSize: '35',
          searcherMetricValue: 0.3,
          bestValidation: {
            totalBatches: 2,
            metrics: { avgMetrics: { validation_loss: 0.3 }, batchMetrics: [] },
          },
          bestCheckpoint: { uuid: '00000000-0000-4000-8000-00000000aa02' },
        });
        // Migrating again is a no-op.
        expect((await migrate(db)).results).toEqual([]);
      } finally {
        await db.close();
      }
    });
  });
}
