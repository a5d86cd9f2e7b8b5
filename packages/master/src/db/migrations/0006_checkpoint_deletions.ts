import { sql } from 'kysely';
import type { Kysely, Migration } from 'kysely';

import type { DialectName } from '../dialect.js';

/**
 * Deletion intents: a checkpoint's row here means its files are being deleted. It is written
 * before the first file goes and removed in the transaction that marks the checkpoint DELETED,
 * so a master killed half-way finds what it was doing and finishes it at start. Internal: the
 * wire keeps Determined's five checkpoint states.
 */
export function checkpointDeletions(dialect: DialectName): Migration {
  const int64 = dialect === 'sqlite' ? 'integer' : 'bigint';
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await sql
        .raw(
          `create table checkpoint_deletions (
            checkpoint_id ${int64} primary key references checkpoints(id),
            requested_at ${int64} not null,
            reason text not null
          )`,
        )
        .execute(db);
    },
  };
}
