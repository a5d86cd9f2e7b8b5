import { CompiledQuery } from 'kysely';
import type { Kysely, Transaction } from 'kysely';

import type { Database } from './schema.js';

/** A unit of writes that must commit or roll back as a whole. */
export type WriteWork<T> = (trx: Transaction<Database>) => Promise<T>;

/** Runs `work` in a transaction of its own and resolves once that has committed. */
export type WriteRunner = <T>(work: WriteWork<T>) => Promise<T>;

/** One transaction per unit: what PostgreSQL gets, where every request has its own connection. */
export function transactionPerWrite(kysely: Kysely<Database>): WriteRunner {
  return (work) => kysely.transaction().execute(work);
}

// Compiled once: these run twice per unit, and building them each time was measurable.
const SAVEPOINT = CompiledQuery.raw('savepoint group_commit_unit');
const RELEASE = CompiledQuery.raw('release group_commit_unit');
const ROLLBACK_TO = CompiledQuery.raw('rollback to group_commit_unit');

interface Pending {
  work: WriteWork<unknown>;
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

/**
 * Group commit for SQLite. With `synchronous = FULL` every commit waits for an fsync of the WAL,
 * and SQLite has one writer, so one transaction per metric report capped the master at about
 * one report per fsync. Here, units that arrive while the previous batch commits are run
 * together in one transaction, each inside a savepoint of its own, and committed with one fsync.
 *
 * Each unit behaves as if it had its own transaction: a unit that throws is rolled back to its
 * savepoint and rejects with its own error, leaving the others untouched; units run in arrival
 * order and see the writes of those before them. No unit resolves before the COMMIT that holds
 * it has returned, so an acknowledged write is on disk exactly as before. If the COMMIT itself
 * fails, every unit of the batch rejects.
 *
 * A unit must use only the transaction it is given: SQLite has one connection, which the batch
 * holds, so a query through the outer `Kysely` would wait for the batch forever.
 */
export function groupCommit(kysely: Kysely<Database>, { maxBatch = 256 } = {}): WriteRunner {
  let queue: Pending[] = [];
  let scheduled = false;

  const runBatch = async (batch: readonly Pending[]): Promise<Outcome[]> => {
    const outcomes: Outcome[] = [];
    await kysely.transaction().execute(async (trx) => {
      for (const unit of batch) {
        await trx.executeQuery(SAVEPOINT);
        try {
          const value = await unit.work(trx);
          await trx.executeQuery(RELEASE);
          outcomes.push({ ok: true, value });
        } catch (error: unknown) {
          await trx.executeQuery(ROLLBACK_TO);
          await trx.executeQuery(RELEASE);
          outcomes.push({ ok: false, error });
        }
      }
    });
    return outcomes;
  };

  const flush = async (): Promise<void> => {
    const batch = queue.slice(0, maxBatch);
    queue = queue.slice(batch.length);
    try {
      const outcomes = await runBatch(batch);
      batch.forEach((unit, i) => {
        const outcome = outcomes[i];
        if (outcome?.ok === true) {
          unit.resolve(outcome.value);
        } else {
          unit.reject(outcome === undefined ? new Error('write was not run') : outcome.error);
        }
      });
    } catch (error: unknown) {
      // The batch did not commit: none of its units may be acknowledged.
      for (const unit of batch) {
        unit.reject(error);
      }
    } finally {
      scheduled = false;
      if (queue.length > 0) {
        schedule();
      }
    }
  };

  // setImmediate lets every request already read off the sockets join the batch.
  const schedule = (): void => {
    scheduled = true;
    setImmediate(() => void flush());
  };

  return <T>(work: WriteWork<T>): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      queue.push({ work, resolve, reject });
      if (!scheduled) {
        schedule();
      }
    });
}
