/**
 * Best and latest checkpoint of a trial with 1,000 and with 100,000 checkpoints and validations
 * (and 1,000,000 with `--million`). On PostgreSQL, measured before and after an ANALYZE.
 *
 * Measures "server time": one `app.fetch(new Request(...))` in-process, including the auth
 * lookup, every query the route runs and the JSON body, read to the end. Both trials live in
 * the same database, so the 100k/1k ratio isolates how the query scales with the trial's size.
 *
 * Targets (issue 2): median ≤ 5 ms at 100,000 and median(100k) ≤ 3 × median(1k), on SQLite
 * (a file in a temp dir, with the master's own pragmas) and on PostgreSQL when
 * DET_BENCH_POSTGRES_URL or DET_TEST_POSTGRES_URL is set (a private schema, dropped after).
 *
 * Seeding: rows are bulk-inserted through kysely, with the denormalised columns computed by the
 * same function the services use (`finiteMetric` for `checkpoints.searcher_metric`, one
 * `checkpoint_counts` row per (trial, state)). The last few steps of each trial are then
 * reported through the HTTP routes (so through the services), half validation-first and half
 * checkpoint-first, and the whole trial is checked: every checkpoint's `searcher_metric` must
 * equal what its live validation gives, and the counters must equal a count of the rows. The
 * benchmark also checks that each measured answer is the expected best/latest checkpoint.
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

import type { JsonObject } from '@determined-ts/api';
import SQLite from 'better-sqlite3';
import type { LogEvent } from 'kysely';
import pg from 'pg';

import { createApp } from '../packages/master/src/app.js';
import type { AppDeps } from '../packages/master/src/context.js';
import { migrate, openDb } from '../packages/master/src/db/connect.js';
import type { Db } from '../packages/master/src/db/connect.js';
import type { DialectName } from '../packages/master/src/db/dialect.js';
import { silentLogger } from '../packages/master/src/logger.js';
import { finiteMetric } from '../packages/master/src/services/config.js';
import { fmt, percentile, postgresUrl, privatePostgres, prng, table, tempDir } from './lib.js';

/** `--million` (or DET_BENCH_MILLION=1) adds a trial of 1,000,000 (issue 16; a few minutes). */
const SIZES: readonly number[] =
  process.argv.includes('--million') || process.env.DET_BENCH_MILLION === '1'
    ? [1_000, 100_000, 1_000_000]
    : [1_000, 100_000];
/** Steps reported through the HTTP routes at the end of each trial. */
const SERVICE_TAIL = 20;
const WARMUP = 100;
const RUNS = 300;
const TARGET_MEDIAN_MS = 5;
const TARGET_RATIO = 3;
const METRIC = 'validation_loss';
const STEP = 100;
const BASE_TIME = Date.parse('2025-01-01T00:00:00Z');

const QUERIES = {
  best: 'sortByAttr=SORT_BY_SEARCHER_METRIC&states=STATE_COMPLETED&limit=1',
  latest: 'sortByAttr=SORT_BY_BATCH_NUMBER&orderBy=ORDER_BY_DESC&states=STATE_COMPLETED&limit=1',
} as const;
type QueryName = keyof typeof QUERIES;

export type App = ReturnType<typeof createApp>;

export interface SeededTrial {
  n: number;
  trialId: number;
  expected: Record<QueryName, string>;
}

export interface CheckpointQueryRow {
  /** The dialect, and for PostgreSQL whether the tables had statistics. */
  dialect: string;
  query: QueryName;
  n: number;
  medianMs: number;
  p95Ms: number;
}

export interface CheckpointQueryResult {
  rows: CheckpointQueryRow[];
  pass: boolean;
  report: string;
}

/** What a benchmark's master app runs with: `db`, the wall clock, no logs. */
export function benchDeps(db: Db, storageDir: string): AppDeps {
  return {
    db,
    clock: Date.now,
    logger: silentLogger,
    settings: {
      version: 'bench',
      masterId: 'bench',
      clusterName: 'bench',
      maxBodyBytes: 64 * 1024 * 1024,
      sessionTtlMs: 7 * 24 * 3600 * 1000,
      defaultCheckpointStorage: { type: 'directory', container_path: storageDir },
    },
  };
}

export function appFor(db: Db, storageDir: string): App {
  return createApp(benchDeps(db, storageDir));
}

async function call<T>(
  app: App,
  token: string | undefined,
  method: string,
  path: string,
  body?: unknown,
): Promise<T> {
  const headers: Record<string, string> = {};
  if (token !== undefined) {
    headers.authorization = `Bearer ${token}`;
  }
  const res = await app.fetch(
    new Request(`http://master.bench${path}`, {
      method,
      headers,
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    }),
  );
  const text = await res.text();
  if (res.status !== 200) {
    throw new Error(`${method} ${path}: ${res.status} ${text}`);
  }
  return JSON.parse(text) as T;
}

export async function login(app: App): Promise<string> {
  const { token } = await call<{ token: string }>(app, undefined, 'POST', '/api/v1/auth/login', {
    username: 'determined',
    password: '',
  });
  return token;
}

/** A started trial in a fresh unmanaged experiment, created through the API. */
async function createTrial(
  app: App,
  token: string,
  storageDir: string,
): Promise<{ trialId: number; taskId: string; runId: number }> {
  const config = `{name: bench, searcher: {name: single, metric: ${METRIC}, smaller_is_better: true}, checkpoint_storage: {type: directory, container_path: ${storageDir}}}`;
  const { experiment } = await call<{ experiment: { id: number } }>(
    app,
    token,
    'POST',
    '/api/v1/experiments',
    { config, unmanaged: true },
  );
  const { trial } = await call<{ trial: { id: number; taskId: string } }>(
    app,
    token,
    'POST',
    '/api/v1/trials',
    { experimentId: experiment.id, hparams: { lr: 0.1 }, unmanaged: true },
  );
  const { trialRunId } = await call<{ trialRunId: number }>(
    app,
    token,
    'POST',
    `/api/v1/trials/${trial.id}/start`,
    { trialId: trial.id, resume: true },
  );
  return { trialId: trial.id, taskId: trial.taskId, runId: trialRunId };
}

/** The validation at step `i`: mostly random finite values, now and then a non-finite one. */
function validationAt(rand: () => number, i: number): Record<string, unknown> {
  return { [METRIC]: i % 997 === 500 ? 'NaN' : rand(), accuracy: rand() };
}

const RESOURCES = { 'metadata.json': 20, 'model.bin': 1000 };

/**
 * Seeds `n` checkpoints, each with a validation and a training report at its step: all but the
 * last {@link SERVICE_TAIL} in bulk, the rest through the API.
 */
export async function seedTrial(
  db: Db,
  app: App,
  token: string,
  storageDir: string,
  n: number,
  seed: number,
): Promise<SeededTrial> {
  const rand = prng(seed);
  const { trialId, taskId, runId } = await createTrial(app, token, storageDir);
  const bulk = n - SERVICE_TAIL;
  const chunk = 1000;
  await db.kysely.transaction().execute(async (trx) => {
    for (let start = 0; start < bulk; start += chunk) {
      const metrics = [];
      const checkpoints = [];
      for (let i = start; i < Math.min(bulk, start + chunk); i += 1) {
        const steps = (i + 1) * STEP;
        const time = BASE_TIME + i * 1000;
        const validation = validationAt(rand, i);
        metrics.push(
          {
            trial_id: trialId,
            trial_run_id: runId,
            metric_group: 'training',
            total_batches: steps,
            end_time: time,
            avg_metrics: JSON.stringify({ loss: rand() }),
            batch_metrics: null,
            archived: 0,
          },
          {
            trial_id: trialId,
            trial_run_id: runId,
            metric_group: 'validation',
            total_batches: steps,
            end_time: time,
            avg_metrics: JSON.stringify(validation),
            batch_metrics: null,
            archived: 0,
          },
        );
        checkpoints.push({
          uuid: randomUUID(),
          trial_id: trialId,
          task_id: taskId,
          allocation_id: null,
          report_time: time,
          state: 'STATE_COMPLETED',
          resources: JSON.stringify(RESOURCES),
          metadata: JSON.stringify({ steps_completed: steps }),
          size: Object.values(RESOURCES).reduce((a, b) => a + b, 0),
          steps_completed: steps,
          storage_id: null,
          digests: null,
          // What reportCheckpoint/reportMetrics store: the validation's finite searcher value.
          searcher_metric: finiteMetric(
            JSON.parse(JSON.stringify(validation)) as JsonObject,
            METRIC,
          ),
        });
      }
      await trx.insertInto('metrics').values(metrics).execute();
      await trx.insertInto('checkpoints').values(checkpoints).execute();
    }
    await trx
      .insertInto('checkpoint_counts')
      .values({
        trial_id: trialId,
        state: 'STATE_COMPLETED',
        n: bulk,
        bytes: bulk * Object.values(RESOURCES).reduce((a, b) => a + b, 0),
      })
      .execute();
    await trx
      .updateTable('trials')
      .set({ total_batches: bulk * STEP })
      .where('id', '=', trialId)
      .execute();
  });
  // The tail goes through the services; odd steps report the checkpoint before its validation.
  for (let i = bulk; i < n; i += 1) {
    const steps = (i + 1) * STEP;
    const reportTime = new Date(BASE_TIME + i * 1000).toISOString();
    const metric = (group: string, avgMetrics: Record<string, unknown>) =>
      call(app, token, 'POST', `/api/v1/trials/${trialId}/metrics`, {
        group,
        metrics: {
          trialId,
          trialRunId: runId,
          stepsCompleted: steps,
          reportTime,
          metrics: { avgMetrics, batchMetrics: null },
        },
      });
    const checkpoint = () =>
      call(app, token, 'POST', '/api/v1/checkpoints', {
        uuid: randomUUID(),
        taskId,
        allocationId: null,
        reportTime,
        state: 'STATE_COMPLETED',
        resources: Object.fromEntries(Object.entries(RESOURCES).map(([k, v]) => [k, String(v)])),
        metadata: { steps_completed: steps },
        training: {},
        storageId: null,
      });
    const validation = validationAt(rand, i);
    await metric('training', { loss: rand() });
    if (i % 2 === 0) {
      await metric('validation', validation);
      await checkpoint();
    } else {
      await checkpoint();
      await metric('validation', validation);
    }
  }
  return { n, trialId, expected: await verifyTrial(db, trialId, n) };
}

/**
 * Checks the denormalised state of a whole trial against its rows, and returns the uuids the
 * best and latest queries must answer.
 */
async function verifyTrial(db: Db, trialId: number, n: number): Promise<Record<QueryName, string>> {
  const checkpoints = await db.kysely
    .selectFrom('checkpoints')
    .select(['uuid', 'state', 'steps_completed', 'report_time', 'searcher_metric'])
    .where('trial_id', '=', trialId)
    .execute();
  const validations = await db.kysely
    .selectFrom('metrics')
    .select(['total_batches', 'avg_metrics'])
    .where('trial_id', '=', trialId)
    .where('metric_group', '=', 'validation')
    .where('archived', '=', 0)
    .execute();
  const byStep = new Map(
    validations.map((v) => [
      v.total_batches,
      finiteMetric(JSON.parse(v.avg_metrics) as JsonObject, METRIC),
    ]),
  );
  if (checkpoints.length !== n || validations.length !== n) {
    throw new Error(
      `trial ${trialId}: ${checkpoints.length} checkpoints, ${validations.length} validations`,
    );
  }
  for (const c of checkpoints) {
    const want = c.steps_completed === null ? null : (byStep.get(c.steps_completed) ?? null);
    if (c.searcher_metric !== want) {
      throw new Error(`checkpoint ${c.uuid}: searcher_metric ${c.searcher_metric} != ${want}`);
    }
  }
  const counts = await db.kysely
    .selectFrom('checkpoint_counts')
    .select(['state', 'n'])
    .where('trial_id', '=', trialId)
    .execute();
  if (counts.length !== 1 || counts[0]?.state !== 'STATE_COMPLETED' || counts[0].n !== n) {
    throw new Error(`trial ${trialId}: checkpoint_counts ${JSON.stringify(counts)} != ${n}`);
  }
  // DESIGN.md's order: the key, then larger step, then later report, then smaller uuid.
  const tieBreak = (a: (typeof checkpoints)[number], b: (typeof checkpoints)[number]): number =>
    (b.steps_completed ?? -1) - (a.steps_completed ?? -1) ||
    b.report_time - a.report_time ||
    (a.uuid < b.uuid ? -1 : 1);
  const keyed = checkpoints.filter((c) => c.searcher_metric !== null);
  const [best] = keyed.sort(
    (a, b) => (a.searcher_metric ?? 0) - (b.searcher_metric ?? 0) || tieBreak(a, b),
  );
  const [latest] = [...checkpoints].sort(tieBreak);
  if (best === undefined || latest === undefined) {
    throw new Error(`trial ${trialId} has no checkpoints`);
  }
  return { best: best.uuid, latest: latest.uuid };
}

function requestFor(trialId: number, query: QueryName, token: string): Request {
  return new Request(`http://master.bench/api/v1/trials/${trialId}/checkpoints?${QUERIES[query]}`, {
    headers: { authorization: `Bearer ${token}` },
  });
}

/** Times one request: `app.fetch` until the whole JSON body has been read. */
async function timeOnce(
  app: App,
  trialId: number,
  query: QueryName,
  token: string,
): Promise<{ ms: number; uuid: string | undefined }> {
  const req = requestFor(trialId, query, token);
  const start = performance.now();
  const res = await app.fetch(req);
  const text = await res.text();
  const ms = performance.now() - start;
  if (res.status !== 200) {
    throw new Error(`${query} on trial ${trialId}: ${res.status} ${text}`);
  }
  const body = JSON.parse(text) as { checkpoints: { uuid: string }[] };
  return { ms, uuid: body.checkpoints[0]?.uuid };
}

async function measure(
  dialect: string,
  app: App,
  token: string,
  trials: readonly SeededTrial[],
): Promise<CheckpointQueryRow[]> {
  const rows: CheckpointQueryRow[] = [];
  for (const trial of trials) {
    for (const query of Object.keys(QUERIES) as QueryName[]) {
      for (let i = 0; i < WARMUP; i += 1) {
        const { uuid } = await timeOnce(app, trial.trialId, query, token);
        if (uuid !== trial.expected[query]) {
          throw new Error(
            `${dialect} ${query} n=${trial.n}: got ${uuid}, want ${trial.expected[query]}`,
          );
        }
      }
      const times = new Float64Array(RUNS);
      for (let i = 0; i < RUNS; i += 1) {
        times[i] = (await timeOnce(app, trial.trialId, query, token)).ms;
      }
      rows.push({
        dialect,
        query,
        n: trial.n,
        medianMs: percentile(times, 0.5),
        p95Ms: percentile(times, 0.95),
      });
    }
  }
  return rows;
}

/** Runs one request of each query through an app whose kysely logs, and returns the SQL run. */
async function captureSql(
  captureDb: Db,
  storageDir: string,
  token: string,
  trialId: number,
  log: LogEvent[],
): Promise<Record<QueryName, LogEvent[]>> {
  const app = appFor(captureDb, storageDir);
  const out = { best: [] as LogEvent[], latest: [] as LogEvent[] };
  for (const query of Object.keys(QUERIES) as QueryName[]) {
    log.length = 0;
    await timeOnce(app, trialId, query, token);
    out[query] = [...log];
  }
  return out;
}

const oneLine = (s: string): string => s.replace(/\s+/g, ' ').trim();

async function explainAll(
  dialect: DialectName,
  statements: Record<QueryName, LogEvent[]>,
  explain: (sql: string, params: readonly unknown[]) => Promise<string[]>,
): Promise<string> {
  const out: string[] = [];
  for (const query of Object.keys(QUERIES) as QueryName[]) {
    out.push(`-- ${dialect} ${query}: ${QUERIES[query]}`);
    for (const event of statements[query]) {
      const sqlText = oneLine(event.query.sql);
      if (!/^select/i.test(sqlText)) {
        continue;
      }
      out.push(`  SQL: ${sqlText}`);
      out.push(`  params: ${JSON.stringify(event.query.parameters)}`);
      for (const line of await explain(event.query.sql, event.query.parameters)) {
        out.push(`    ${line}`);
      }
    }
  }
  return out.join('\n');
}

async function benchSqlite(
  storageDir: string,
): Promise<{ rows: CheckpointQueryRow[]; plans: string }> {
  const dir = await tempDir('det-bench-cq-');
  const file = join(dir.path, 'master.db');
  const db = openDb(file);
  try {
    await migrate(db);
    const app = appFor(db, storageDir);
    const token = await login(app);
    const t0 = performance.now();
    const trials: SeededTrial[] = [];
    for (const [i, n] of SIZES.entries()) {
      trials.push(await seedTrial(db, app, token, storageDir, n, 1 + i));
    }
    console.log(`sqlite: seeded and verified in ${fmt((performance.now() - t0) / 1000, 1)} s`);
    const rows = await measure('sqlite', app, token, trials);

    const raw = new SQLite(file);
    const log: LogEvent[] = [];
    const captureDb = openDb(file, {
      log: (e) => {
        log.push(e);
      },
    });
    const big = trials[trials.length - 1];
    let plans = '';
    if (big !== undefined) {
      const statements = await captureSql(captureDb, storageDir, token, big.trialId, log);
      plans = await explainAll('sqlite', statements, (sqlText, params) => {
        const plan = raw.prepare(`explain query plan ${sqlText}`).all(...params) as {
          id: number;
          parent: number;
          detail: string;
        }[];
        const depth = new Map<number, number>([[0, 0]]);
        return Promise.resolve(
          plan.map((p) => {
            const d = (depth.get(p.parent) ?? 0) + 1;
            depth.set(p.id, d);
            return `${'  '.repeat(d - 1)}${p.detail}`;
          }),
        );
      });
    }
    await captureDb.close();
    return { rows, plans };
  } finally {
    await db.close();
    await dir.cleanup();
  }
}

async function benchPostgres(
  url: string,
  storageDir: string,
): Promise<{ rows: CheckpointQueryRow[]; plans: string }> {
  const { db, schemaUrl } = await privatePostgres(url);
  try {
    const app = appFor(db, storageDir);
    const token = await login(app);
    const t0 = performance.now();
    const trials: SeededTrial[] = [];
    for (const [i, n] of SIZES.entries()) {
      trials.push(await seedTrial(db, app, token, storageDir, n, 1 + i));
    }
    console.log(`postgres: seeded and verified in ${fmt((performance.now() - t0) / 1000, 1)} s`);
    // First without statistics, as a database with autovacuum off (this machine's, CI's) runs:
    // the master must not depend on statistics nobody gathers (issue 16).
    const rows = await measure('postgres, no ANALYZE', app, token, trials);
    // Autovacuum would analyze tables this size within a minute; do it now so the planner sees
    // the steady state rather than a just-loaded table.
    const analyze = new pg.Client({ connectionString: schemaUrl });
    await analyze.connect();
    await analyze.query('analyze');
    await analyze.end();
    rows.push(...(await measure('postgres', app, token, trials)));

    const log: LogEvent[] = [];
    const captureDb = openDb(schemaUrl, {
      poolSize: 2,
      log: (e) => {
        log.push(e);
      },
    });
    const big = trials[trials.length - 1];
    let plans = '';
    if (big !== undefined) {
      const statements = await captureSql(captureDb, storageDir, token, big.trialId, log);
      const client = new pg.Client({ connectionString: schemaUrl });
      await client.connect();
      plans = await explainAll('postgres', statements, async (sqlText, params) => {
        const res = await client.query<{ 'QUERY PLAN': string }>(`explain ${sqlText}`, [...params]);
        return res.rows.map((r) => r['QUERY PLAN']);
      });
      await client.end();
    }
    await captureDb.close();
    return { rows, plans };
  } finally {
    await db.close();
  }
}

/** Runs the benchmark on SQLite, and on PostgreSQL when configured; prints and returns the table. */
export async function runCheckpointQueryBench(): Promise<CheckpointQueryResult> {
  const storage = await tempDir('det-bench-storage-');
  const rows: CheckpointQueryRow[] = [];
  const plans: string[] = [];
  try {
    const sqlite = await benchSqlite(storage.path);
    rows.push(...sqlite.rows);
    plans.push(sqlite.plans);
    const url = postgresUrl();
    if (url === undefined) {
      console.log('postgres: skipped (set DET_BENCH_POSTGRES_URL or DET_TEST_POSTGRES_URL)');
    } else {
      const pgResult = await benchPostgres(url, storage.path);
      rows.push(...pgResult.rows);
      plans.push(pgResult.plans);
    }
  } finally {
    await storage.cleanup();
  }
  let pass = true;
  const tableRows: string[][] = [];
  for (const row of rows) {
    const small = rows.find(
      (r) => r.dialect === row.dialect && r.query === row.query && r.n === SIZES[0],
    );
    const isBig = row.n === SIZES[SIZES.length - 1];
    const ratio = isBig && small !== undefined ? row.medianMs / small.medianMs : undefined;
    let verdict = '';
    if (isBig) {
      const ok = row.medianMs <= TARGET_MEDIAN_MS && ratio !== undefined && ratio <= TARGET_RATIO;
      pass &&= ok;
      verdict = ok ? 'PASS' : 'FAIL';
    }
    tableRows.push([
      row.dialect,
      row.query,
      String(row.n),
      fmt(row.medianMs, 3),
      fmt(row.p95Ms, 3),
      ratio === undefined ? '' : fmt(ratio),
      verdict,
    ]);
  }
  const report = [
    `Checkpoint queries: server time of GET /api/v1/trials/{id}/checkpoints (median of ${RUNS} after ${WARMUP} warm-up)`,
    `targets: median ≤ ${TARGET_MEDIAN_MS} ms at ${SIZES[SIZES.length - 1]}, ratio ${SIZES[SIZES.length - 1]}/${SIZES[0]} ≤ ${TARGET_RATIO}`,
    table(['dialect', 'query', 'n', 'median ms', 'p95 ms', 'ratio', 'verdict'], tableRows),
    pass ? 'checkpoint queries: PASS' : 'checkpoint queries: FAIL',
  ].join('\n');
  console.log(
    `\nQuery plans of the SQL each request runs (trial with ${SIZES[SIZES.length - 1]}):`,
  );
  console.log(plans.join('\n'));
  console.log(`\n${report}`);
  return { rows, pass, report };
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { pass } = await runCheckpointQueryBench();
  process.exitCode = pass ? 0 : 1;
}
