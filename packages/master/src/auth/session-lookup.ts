import type { Kysely } from 'kysely';

import type { Db } from '../db/connect.js';
import type { Database } from '../db/schema.js';

/** A session and its user, as a request's authentication reads them. */
export interface SessionRow {
  session_id: number;
  token_hash: string;
  expires_at: number;
  id: number;
  username: string;
  admin: number;
  active: number;
}

type Lookup = (tokenHash: string) => Promise<SessionRow | undefined>;

const lookups = new WeakMap<Db, Lookup>();

/**
 * Reads the session whose token has digest `tokenHash`, and its user.
 *
 * Every request reads its session afresh, so a logout or a deactivated user takes effect on
 * every replica at the next request. On PostgreSQL the lookups of requests that arrive
 * together share one query (`token_hash = any(...)`): one round trip instead of one each,
 * which on a busy master was the largest cost of a metric report after the report itself.
 * Nothing is cached: each lookup reads after its request arrived.
 */
export function lookUpSession(db: Db, tokenHash: string): Promise<SessionRow | undefined> {
  let lookup = lookups.get(db);
  if (lookup === undefined) {
    lookup =
      db.dialect === 'postgres'
        ? batchedLookups(db.kysely)
        : async (hash) => (await readSessions(db.kysely, [hash]))[0];
    lookups.set(db, lookup);
  }
  return lookup(tokenHash);
}

function readSessions(db: Kysely<Database>, hashes: readonly string[]): Promise<SessionRow[]> {
  return db
    .selectFrom('sessions')
    .innerJoin('users', 'users.id', 'sessions.user_id')
    .select([
      'sessions.id as session_id',
      'sessions.expires_at',
      'sessions.token_hash',
      'users.id',
      'users.username',
      'users.admin',
      'users.active',
    ])
    .where('sessions.token_hash', 'in', hashes)
    .execute();
}

/** Lookups queued in one turn of the event loop, answered by one query. */
function batchedLookups(db: Kysely<Database>, maxBatch = 256): Lookup {
  let waiting = new Map<string, ((row: SessionRow | undefined) => void)[]>();
  let failures: ((error: unknown) => void)[] = [];
  let scheduled = false;

  const flush = async (): Promise<void> => {
    scheduled = false;
    const batch = waiting;
    const rejects = failures;
    waiting = new Map();
    failures = [];
    const hashes = [...batch.keys()];
    try {
      const rows = new Map<string, SessionRow>();
      for (let i = 0; i < hashes.length; i += maxBatch) {
        for (const row of await readSessions(db, hashes.slice(i, i + maxBatch))) {
          rows.set(row.token_hash, row);
        }
      }
      for (const [hash, resolvers] of batch) {
        for (const resolve of resolvers) {
          resolve(rows.get(hash));
        }
      }
    } catch (error: unknown) {
      for (const reject of rejects) {
        reject(error);
      }
    }
  };

  return (tokenHash) =>
    new Promise((resolve, reject) => {
      const resolvers = waiting.get(tokenHash) ?? [];
      resolvers.push(resolve);
      waiting.set(tokenHash, resolvers);
      failures.push(reject);
      if (!scheduled) {
        scheduled = true;
        // setImmediate lets every request already read off the sockets join the query.
        setImmediate(() => void flush());
      }
    });
}
