import { randomUUID } from 'node:crypto';

import { sql } from 'kysely';
import type { Kysely, Migration } from 'kysely';

import type { DialectName } from '../dialect.js';

/** The first schema. Written as SQL both dialects accept, with the few type names swapped. */
export function initial(dialect: DialectName): Migration {
  const id = dialect === 'sqlite' ? 'integer primary key autoincrement' : 'bigserial primary key';
  const int64 = dialect === 'sqlite' ? 'integer' : 'bigint';
  const double = dialect === 'sqlite' ? 'real' : 'double precision';
  // SQLite sorts NULL lowest, so `desc` already puts it last; PostgreSQL must be told.
  const descNullsLast = dialect === 'sqlite' ? 'desc' : 'desc nulls last';
  const statements = [
    `create table users (
      id ${id},
      username text not null unique,
      display_name text not null default '',
      admin integer not null default 0,
      active integer not null default 1,
      password_hash text,
      modified_at ${int64} not null,
      last_auth_at ${int64}
    )`,
    `create table sessions (
      id ${id},
      user_id ${int64} not null references users(id),
      token_hash text not null unique,
      created_at ${int64} not null,
      expires_at ${int64} not null
    )`,
    `create index sessions_user on sessions (user_id)`,
    `create table experiments (
      id ${id},
      name text not null,
      description text not null default '',
      owner_id ${int64} not null references users(id),
      state text not null,
      config text not null,
      original_config text not null,
      searcher_name text not null,
      searcher_metric text not null,
      smaller_is_better integer not null,
      unmanaged integer not null,
      external_id text unique,
      archived integer not null default 0,
      labels text not null default '[]',
      notes text not null default '',
      start_time ${int64} not null,
      end_time ${int64}
    )`,
    `create table storage_backends (
      id ${id},
      config text not null unique
    )`,
    `create table trials (
      id ${id},
      experiment_id ${int64} not null references experiments(id),
      task_id text not null unique,
      state text not null,
      hparams text not null,
      run_id integer not null default 0,
      restarts integer not null default 0,
      start_time ${int64} not null,
      end_time ${int64},
      external_id text,
      total_batches ${int64} not null default 0,
      progress ${double},
      storage_id ${int64} references storage_backends(id)
    )`,
    `create index trials_experiment on trials (experiment_id, id)`,
    `create unique index trials_external on trials (experiment_id, external_id)`,
    `create table metrics (
      id ${id},
      trial_id ${int64} not null references trials(id),
      trial_run_id integer not null,
      metric_group text not null,
      total_batches ${int64} not null,
      end_time ${int64} not null,
      avg_metrics text not null,
      batch_metrics text,
      archived integer not null default 0
    )`,
    // At most one live report per (trial, group, steps): re-reports merge into it, and reports
    // from a later run archive it first.
    `create unique index metrics_live on metrics (trial_id, metric_group, total_batches) where archived = 0`,
    `create index metrics_trial_run on metrics (trial_id, trial_run_id)`,
    `create table checkpoints (
      id ${id},
      uuid text not null unique,
      trial_id ${int64} not null references trials(id),
      task_id text not null,
      allocation_id text,
      report_time ${int64} not null,
      state text not null,
      resources text not null,
      metadata text not null,
      size ${int64} not null,
      steps_completed ${int64},
      storage_id ${int64} references storage_backends(id),
      digests text,
      searcher_metric ${double}
    )`,
    // Best-first in either direction, and latest, are each a walk down one of these.
    `create index checkpoints_metric_asc on checkpoints
      (trial_id, searcher_metric asc, steps_completed ${descNullsLast}, report_time desc, uuid asc)`,
    `create index checkpoints_metric_desc on checkpoints
      (trial_id, searcher_metric desc, steps_completed ${descNullsLast}, report_time desc, uuid asc)`,
    `create index checkpoints_latest on checkpoints
      (trial_id, steps_completed ${descNullsLast}, report_time desc, uuid asc)`,
    `create table checkpoint_counts (
      trial_id ${int64} not null references trials(id),
      state text not null,
      n ${int64} not null,
      primary key (trial_id, state)
    )`,
    `create table task_logs (
      id ${id},
      task_id text not null,
      trial_id ${int64} not null references trials(id),
      timestamp ${int64} not null,
      rank_id integer,
      stdtype text,
      log text not null
    )`,
    `create index task_logs_trial on task_logs (trial_id, id)`,
    // One row: the cluster id every replica reports, fixed when the database is created.
    `create table cluster_info (cluster_id text not null)`,
    `insert into cluster_info (cluster_id) values ('${randomUUID()}')`,
    // The built-in users, as upstream creates them: both active, neither with a password.
    `insert into users (username, admin, active, modified_at) values ('admin', 1, 1, ${Date.now()})`,
    `insert into users (username, admin, active, modified_at) values ('determined', 0, 1, ${Date.now()})`,
  ];
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      for (const statement of statements) {
        await sql.raw(statement).execute(db);
      }
    },
  };
}
