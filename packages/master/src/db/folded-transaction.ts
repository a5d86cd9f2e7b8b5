import { Kysely, PostgresDialect } from 'kysely';
import type { CompiledQuery } from 'kysely';
import type pg from 'pg';

import type { Database } from './schema.js';

/**
 * A PostgreSQL transaction whose BEGIN travels with its first statement and whose COMMIT
 * travels with its last, for the metric-report path (issue 16).
 *
 * On a machine whose cores the master and PostgreSQL share, each round trip costs both of them
 * a socket write, a wake-up and a context switch: on loopback, the master's write runs
 * PostgreSQL's side of TCP as well. A kysely transaction sends BEGIN and COMMIT on their own,
 * so a two-statement unit took four round trips; this one takes two. It does so through the
 * simple-query protocol, which runs several statements from one message but takes no
 * parameters: the first and last statements are sent with their parameters written in as
 * literals (`inlineParameters`). Statements in between, if any, go as usual.
 *
 * If a statement of the first or last message fails, PostgreSQL skips the rest of the message;
 * the transaction is then aborted and `rollback` ends it.
 */
export class FoldedTransaction {
  private constructor(private readonly client: pg.PoolClient) {}

  /** Takes a connection, begins, and runs the `first` statements; returns the rows of each. */
  static async begin(
    pool: pg.Pool,
    first: readonly CompiledQuery[],
  ): Promise<{ trx: FoldedTransaction; rows: unknown[][] }> {
    const client = await pool.connect();
    const trx = new FoldedTransaction(client);
    try {
      const results = (await client.query(
        ['begin', ...first.map(inlineParameters)].join('; '),
      )) as unknown as pg.QueryResult[];
      return { trx, rows: first.map((_, i): unknown[] => results[i + 1]?.rows ?? []) };
    } catch (error: unknown) {
      await trx.rollback();
      throw error;
    }
  }

  /** Runs a statement in the transaction, with its parameters bound as usual. */
  async query<R>(statement: CompiledQuery<R>): Promise<R[]> {
    const result = await this.client.query(statement.sql, [...statement.parameters]);
    return result.rows as R[];
  }

  /**
   * A kysely instance on this transaction's connection, for code written against kysely.
   * Everything it runs is part of the transaction.
   */
  kysely(): Kysely<Database> {
    const client = this.client;
    const pool = {
      connect: () => Promise.resolve({ query: client.query.bind(client), release: () => {} }),
      end: () => Promise.resolve(),
    };
    return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  }

  /** Runs `last` and commits, in one round trip, and gives the connection back. */
  async commit(last: readonly CompiledQuery[]): Promise<void> {
    const statements = [...last.map(inlineParameters), 'commit'];
    try {
      const results = (await this.client.query(statements.join('; '))) as unknown as
        pg.QueryResult | pg.QueryResult[];
      // PostgreSQL answers COMMIT of an aborted transaction with ROLLBACK.
      const end = Array.isArray(results) ? results[results.length - 1] : results;
      if (end?.command !== 'COMMIT') {
        throw new Error('transaction was rolled back at commit');
      }
    } catch (error: unknown) {
      await this.rollback();
      throw error;
    }
    this.client.release();
  }

  /** Ends the transaction without its writes and gives the connection back. */
  async rollback(): Promise<void> {
    try {
      await this.client.query('rollback');
      this.client.release();
    } catch (error: unknown) {
      // A connection whose state is unknown is closed rather than handed to another request.
      this.client.release(error instanceof Error ? error : true);
    }
  }
}

/**
 * `statement` with each `$n` replaced by parameter n as an SQL literal. Only for statements
 * written in this repository, where `$n` appears nowhere but as a placeholder.
 */
export function inlineParameters(statement: CompiledQuery): string {
  return statement.sql.replace(/\$(\d+)/g, (_, n: string) => {
    const value: unknown = statement.parameters[Number(n) - 1];
    return literal(value);
  });
}

function literal(value: unknown): string {
  if (value === null || value === undefined) {
    return 'null';
  }
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) {
      throw new TypeError(`cannot write ${value} as an SQL literal`);
    }
    return String(value);
  }
  if (typeof value === 'boolean') {
    return value ? 'true' : 'false';
  }
  if (typeof value === 'string') {
    return stringLiteral(value);
  }
  throw new TypeError(`cannot write a ${typeof value} as an SQL literal`);
}

/**
 * A string as an SQL literal, as `pg.escapeLiteral` writes it (quotes doubled; with a
 * backslash, an E'' literal with backslashes doubled too, right whatever
 * standard_conforming_strings says), with the engine's own replaceAll instead of a loop over
 * characters: the summaries a report writes run to kilobytes.
 */
export function stringLiteral(value: string): string {
  const quoted = `'${value.replaceAll("'", "''")}'`;
  return value.includes('\\') ? ` E${quoted.replaceAll('\\', '\\\\')}` : quoted;
}
