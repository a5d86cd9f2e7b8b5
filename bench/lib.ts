import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import type http from 'node:http';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import pg from 'pg';

import { migrate, openDb } from '../packages/master/src/db/connect.js';
import type { Db } from '../packages/master/src/db/connect.js';

/** Percentile `p` (0..1) of `values` by the nearest-rank rule. */
export function percentile(values: ArrayLike<number>, p: number): number {
  const sorted = Float64Array.from(values).sort();
  if (sorted.length === 0) {
    return Number.NaN;
  }
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1));
  return sorted[rank] ?? Number.NaN;
}

/** The median of `xs`: the mean of the two middle values when their number is even. */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] ?? NaN) : ((s[mid - 1] ?? NaN) + (s[mid] ?? NaN)) / 2;
}

/** Formats rows as a plain-text table with aligned columns. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/** A small deterministic PRNG (mulberry32), so seeded data is the same on every run. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A temporary directory, removed by `cleanup`. */
export async function tempDir(
  prefix: string,
): Promise<{ path: string; cleanup: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, cleanup: () => rm(path, { recursive: true, force: true }) };
}

/** The PostgreSQL server to benchmark on, if one is configured. */
export function postgresUrl(): string | undefined {
  const url = process.env.DET_BENCH_POSTGRES_URL ?? process.env.DET_TEST_POSTGRES_URL;
  return url === undefined || url === '' ? undefined : url;
}

/** `url` with its connections' `search_path` set to `schema`. */
export function withSearchPath(url: string, schema: string): string {
  const sep = url.includes('?') ? '&' : '?';
  return `${url}${sep}options=${encodeURIComponent(`-c search_path=${schema}`)}`;
}

/**
 * A migrated database in a schema of its own on the PostgreSQL server at `url`; `close` drops
 * the schema, so a benchmark leaves nothing behind.
 */
export async function privatePostgres(url: string): Promise<{ db: Db; schemaUrl: string }> {
  const schema = `bench_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await admin.query(`create schema ${schema}`);
  await admin.end();
  const schemaUrl = withSearchPath(url, schema);
  const db = openDb(schemaUrl);
  await migrate(db);
  return {
    schemaUrl,
    db: {
      ...db,
      close: async () => {
        await db.close();
        const cleanup = new pg.Client({ connectionString: url });
        await cleanup.connect();
        await cleanup.query(`drop schema ${schema} cascade`);
        await cleanup.end();
      },
    },
  };
}

export const fmt = (ms: number, digits = 2): string => ms.toFixed(digits);

export function log(...parts: unknown[]): void {
  console.log(...parts);
}

/**
 * One request through `agent` (node:http, keep-alive), read to its end: the load generator the
 * ingest benchmarks judge by, far cheaper per request than global fetch.
 */
export function httpRequest(
  agent: http.Agent,
  url: string,
  {
    method,
    headers = {},
    body,
  }: { method: string; headers?: http.OutgoingHttpHeaders; body?: string },
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method,
        agent,
        headers:
          body === undefined
            ? headers
            : { ...headers, 'content-length': String(Buffer.byteLength(body)) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}
