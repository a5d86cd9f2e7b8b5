import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { testDb, testDialects } from '../../test/helpers.js';
import type { Db } from './connect.js';

const addUser = (db: Db, username: string, fail?: Error) =>
  db.write(async (trx) => {
    await trx
      .insertInto('users')
      .values({ username, display_name: '', admin: 0, active: 1, modified_at: 0 })
      .execute();
    if (fail !== undefined) {
      throw fail;
    }
    const { n } = await trx
      .selectFrom('users')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('username', 'like', 'gc-%')
      .executeTakeFirstOrThrow();
    return Number(n);
  });

async function usernames(db: Db): Promise<string[]> {
  const rows = await db.kysely
    .selectFrom('users')
    .select('username')
    .where('username', 'like', 'gc-%')
    .orderBy('username')
    .execute();
  return rows.map((r) => r.username);
}

for (const dialect of testDialects()) {
  describe(`db.write [${dialect}]`, () => {
    let db: Db;
    beforeEach(async () => {
      db = await testDb(dialect);
    });
    afterEach(async () => {
      await db.close();
    });

    it('rolls back only the unit that failed when units are written together', async () => {
      const boom = new Error('boom');
      const results = await Promise.allSettled([
        addUser(db, 'gc-a'),
        addUser(db, 'gc-b', boom),
        addUser(db, 'gc-c'),
      ]);
      expect(results[0]).toEqual({ status: 'fulfilled', value: 1 });
      expect(results[1]).toEqual({ status: 'rejected', reason: boom });
      if (dialect === 'sqlite') {
        // One batch, in arrival order: the third unit sees the first one's row and not the
        // failed one's.
        expect(results[2]).toEqual({ status: 'fulfilled', value: 2 });
      } else {
        // PostgreSQL runs each unit in its own concurrent transaction, so whether the third
        // sees the first's row depends on which commits first; never the failed one's.
        expect(results[2]).toMatchObject({ status: 'fulfilled' });
        expect([1, 2]).toContain((results[2] as PromiseFulfilledResult<number>).value);
      }
      expect(await usernames(db)).toEqual(['gc-a', 'gc-c']);
    });
  });
}

describe('db.write group commit [sqlite]', () => {
  let db: Db;
  beforeEach(async () => {
    db = await testDb('sqlite');
  });
  afterEach(async () => {
    await db.close();
  });

  it('runs every unit that arrived together before acknowledging any', async () => {
    const events: string[] = [];
    const unit = (name: string) =>
      db
        .write(async (trx) => {
          events.push(`run ${name}`);
          await sql`select 1`.execute(trx);
        })
        .then(() => events.push(`ack ${name}`));
    await Promise.all([unit('a'), unit('b'), unit('c')]);
    expect(events).toEqual(['run a', 'run b', 'run c', 'ack a', 'ack b', 'ack c']);
  });

  it('acknowledges none of a batch whose commit fails', async () => {
    const results = await Promise.allSettled([
      addUser(db, 'gc-a'),
      // A deferred foreign key is checked at COMMIT, so this unit itself succeeds and the
      // shared commit fails.
      db.write(async (trx) => {
        await sql`pragma defer_foreign_keys = on`.execute(trx);
        await trx
          .insertInto('sessions')
          .values({ user_id: 999_999, token_hash: 'gc', created_at: 0, expires_at: 0 })
          .execute();
      }),
    ]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(await usernames(db)).toEqual([]);
    // The next batch commits normally.
    await expect(addUser(db, 'gc-d')).resolves.toBe(1);
  });
});
