import { sql } from 'kysely';
import type { Kysely, Migration } from 'kysely';

import type { DialectName } from '../dialect.js';

/**
 * The model registry: Determined's models and versions, plus our aliases and their history, and
 * the trials that used a checkpoint or version.
 * Labels and metadata are JSON text, as on experiments: kept as real arrays (Determined joins
 * labels with commas and splits them back, so a label with a comma comes back as two).
 */
export function modelRegistry(dialect: DialectName): Migration {
  const id = dialect === 'sqlite' ? 'integer primary key autoincrement' : 'bigserial primary key';
  const int64 = dialect === 'sqlite' ? 'integer' : 'bigint';
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await sql
        .raw(
          `create table models (
            id ${id},
            name text not null unique,
            description text not null default '',
            notes text not null default '',
            metadata text not null default '{}',
            labels text not null default '[]',
            user_id ${int64} not null references users(id),
            workspace_id integer not null default 1,
            archived integer not null default 0,
            created_at ${int64} not null,
            updated_at ${int64} not null
          )`,
        )
        .execute(db);
      await sql
        .raw(
          `create table model_versions (
            id ${id},
            model_id ${int64} not null references models(id) on delete cascade,
            version integer not null,
            checkpoint_id ${int64} not null references checkpoints(id),
            name text not null default '',
            comment text not null default '',
            notes text not null default '',
            metadata text not null default '{}',
            labels text not null default '[]',
            user_id ${int64} not null references users(id),
            created_at ${int64} not null,
            updated_at ${int64} not null,
            unique (model_id, version)
          )`,
        )
        .execute(db);
      // Every checkpoint delete, patch and rm asks whether the checkpoint is registered.
      await sql`create index model_versions_checkpoint on model_versions (checkpoint_id)`.execute(
        db,
      );
      await sql
        .raw(
          `create table model_aliases (
            model_id ${int64} not null references models(id) on delete cascade,
            alias text not null,
            version_id ${int64} not null references model_versions(id),
            user_id ${int64} not null references users(id),
            updated_at ${int64} not null,
            primary key (model_id, alias)
          )`,
        )
        .execute(db);
      await sql`create index model_aliases_version on model_aliases (version_id)`.execute(db);
      await sql
        .raw(
          `create table model_alias_events (
            id ${id},
            model_id ${int64} not null references models(id) on delete cascade,
            alias text not null,
            from_version integer,
            to_version integer,
            user_id ${int64} not null references users(id),
            time ${int64} not null
          )`,
        )
        .execute(db);
      await sql`create index model_alias_events_model on model_alias_events (model_id, id)`.execute(
        db,
      );
      // Determined's trial source infos: a trial (inference, fine-tuning) that used a checkpoint
      // or a model version, so the metrics it reports show up under them.
      await sql
        .raw(
          `create table trial_source_infos (
            trial_id ${int64} not null references trials(id),
            checkpoint_id ${int64} not null references checkpoints(id),
            model_version_id ${int64} references model_versions(id) on delete cascade,
            type text not null,
            primary key (trial_id, checkpoint_id)
          )`,
        )
        .execute(db);
      await sql`create index trial_source_infos_checkpoint on trial_source_infos (checkpoint_id)`.execute(
        db,
      );
      await sql`create index trial_source_infos_version on trial_source_infos (model_version_id)`.execute(
        db,
      );
    },
  };
}
