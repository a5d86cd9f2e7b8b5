import type { CompiledQuery, Kysely } from 'kysely';
import pg from 'pg';

import { FoldedTransaction } from './folded-transaction.js';
import type { Database } from './schema.js';

/**
 * A write in two steps: a first statement, then the statements JavaScript derives from its
 * rows (a metric report: store and lock, then the trial's new aggregates).
 */
export interface TwoStepWrite {
  /**
   * Writes with the same key never share a batch: the second step of each is computed from
   * what its first step read, which would miss what the other's second step writes.
   */
  key: number;
  first: CompiledQuery;
  /**
   * The statements that finish the write, from the first's rows; throws to refuse the write.
   * `db` runs further reads in the same transaction (rare paths).
   */
  then(rows: unknown[], db: () => Kysely<Database>): Promise<CompiledQuery[]>;
}

/** Runs a two-step write and resolves once it has committed. */
export type TwoStepRunner = (write: TwoStepWrite) => Promise<void>;

interface Pending {
  write: TwoStepWrite;
  resolve(): void;
  reject(error: unknown): void;
}

/**
 * Group commit for PostgreSQL's two-step writes. Writes that arrive together run as one
 * transaction in two round trips: BEGIN and every first step in one message, every second
 * step and COMMIT in another (see folded-transaction.ts). Per write, that is what SQLite's
 * group commit saves: round trips, and with them the socket writes and context switches that
 * cost the master and PostgreSQL more CPU than the statements themselves.
 *
 * Each write behaves as if it had its own transaction. A batch with a write that fails is
 * rolled back and each of its writes is run again alone, so a write fails only for its own
 * reason; a write alone that fails is rolled back and rejects with its error. Nothing resolves
 * before the COMMIT holding it has returned. If the connection fails, it is unknown whether
 * the batch committed, and every write of it rejects.
 *
 * Writes lock rows in their first step. A batch runs its writes in key order, and each write
 * locks the row of its key only, so batches in flight at once never wait on each other in a
 * cycle.
 */
export function foldedBatches(
  pool: pg.Pool,
  { maxBatch = 64, maxInFlight = 2 } = {},
): TwoStepRunner {
  let queue: Pending[] = [];
  let inFlight = 0;
  let scheduled = false;

  const runAlone = async (unit: Pending): Promise<void> => {
    try {
      await runTogether(pool, [unit.write]);
      unit.resolve();
    } catch (error: unknown) {
      unit.reject(error);
    }
  };

  const flush = async (): Promise<void> => {
    scheduled = false;
    const batch: Pending[] = [];
    const keys = new Set<number>();
    const rest: Pending[] = [];
    for (const unit of queue) {
      if (batch.length < maxBatch && !keys.has(unit.write.key)) {
        keys.add(unit.write.key);
        batch.push(unit);
      } else {
        rest.push(unit);
      }
    }
    queue = rest;
    batch.sort((a, b) => a.write.key - b.write.key);
    inFlight += 1;
    try {
      await runTogether(
        pool,
        batch.map((unit) => unit.write),
      );
      for (const unit of batch) {
        unit.resolve();
      }
    } catch (error: unknown) {
      if (batch.length === 1 || !(error instanceof pg.DatabaseError || error instanceof Refused)) {
        for (const unit of batch) {
          unit.reject(error instanceof Refused ? error.cause : error);
        }
      } else {
        // Rolled back: each write again on its own, to fail for its own reason only.
        for (const unit of batch) {
          await runAlone(unit);
        }
      }
    } finally {
      inFlight -= 1;
      schedule();
    }
  };

  // setImmediate lets every request already read off the sockets join the batch.
  const schedule = (): void => {
    if (!scheduled && queue.length > 0 && inFlight < maxInFlight) {
      scheduled = true;
      setImmediate(() => void flush());
    }
  };

  return (write) =>
    new Promise<void>((resolve, reject) => {
      queue.push({ write, resolve, reject });
      schedule();
    });
}

/** A write's second step refused it; the batch was rolled back. */
class Refused extends Error {}

/** One transaction for `writes`, in two round trips. */
async function runTogether(pool: pg.Pool, writes: readonly TwoStepWrite[]): Promise<void> {
  const { trx, rows } = await FoldedTransaction.begin(
    pool,
    writes.map((write) => write.first),
  );
  const last: CompiledQuery[] = [];
  try {
    for (const [i, write] of writes.entries()) {
      last.push(...(await write.then(rows[i] ?? [], () => trx.kysely())));
    }
  } catch (error: unknown) {
    await trx.rollback();
    throw writes.length === 1 ? error : new Refused('refused', { cause: error });
  }
  await trx.commit(last);
}
