import { sql } from 'kysely';
import type { Kysely, Migration } from 'kysely';

import type { DialectName } from '../dialect.js';

/**
 * Long-lived access tokens for automation (Determined 0.38's, plus a scope). Apart from login
 * sessions: a session ends when its user logs out and its row goes, while a token's row stays
 * after revocation or expiry so that `det token list --show-inactive` can show it.
 */
export function accessTokens(dialect: DialectName): Migration {
  const id = dialect === 'sqlite' ? 'integer primary key autoincrement' : 'bigserial primary key';
  const int64 = dialect === 'sqlite' ? 'integer' : 'bigint';
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await sql
        .raw(
          `create table access_tokens (
            id ${id},
            user_id ${int64} not null references users(id),
            token_hash text not null unique,
            description text not null default '',
            scope text not null,
            created_at ${int64} not null,
            expires_at ${int64} not null,
            revoked_at ${int64}
          )`,
        )
        .execute(db);
      await sql`create index access_tokens_user on access_tokens (user_id)`.execute(db);
    },
  };
}
