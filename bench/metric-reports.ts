/**
 * Metric reports over HTTP: 16 concurrent clients, each reporting its own trial's steps in order
 * to a real master on loopback (SQLite file in a temp data dir, the master's own durability
 * settings), through global fetch (undici, keep-alive). With a PostgreSQL server configured
 * (`DET_BENCH_POSTGRES_URL`, else `DET_TEST_POSTGRES_URL`), the same run is repeated on it, in a
 * schema of its own, and the two are compared (issue 16: PostgreSQL ≥ 0.9 × SQLite).
 *
 * Each client sends a fixed number of reports: nine training reports, then a validation at the
 * last training step, and so on. Every request must get a 200; afterwards the metric rows in the
 * database must equal the acknowledged reports, group by group.
 *
 * Anchor: the same clients fetching `GET /api/v1/master` (no database work), to tell how much of
 * the figure is HTTP and how much the report itself; printed as reports/s ÷ anchor/s.
 *
 * The master runs in a forked process by default, as deployed (`--inline` runs it in this one).
 * `--client=http` swaps global fetch for node:http with a keep-alive agent: on a 2-CPU machine
 * fetch itself needs more CPU per request than the master does, so that run shows what the
 * master sustains when the load generator is not the bottleneck. The CPU columns tell which is.
 * Targets: ≥ 3,000 reports/s with none lost on each database (issue 2 for SQLite, issue 16 for
 * PostgreSQL), and PostgreSQL ≥ 0.9 × SQLite in the same run (issue 16).
 */
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

import pg from 'pg';

import { loadConfig } from '../packages/master/src/config.js';
import { openDb } from '../packages/master/src/db/connect.js';
import type { DialectName } from '../packages/master/src/db/dialect.js';
import { silentLogger } from '../packages/master/src/logger.js';
import { startMaster } from '../packages/master/src/server.js';
import {
  fmt,
  httpRequest,
  percentile,
  postgresUrl,
  table,
  tempDir,
  withSearchPath,
} from './lib.js';
import type { MasterProcessMessage } from './master-process.js';

const CLIENTS = 16;
const REPORTS_PER_CLIENT = 3_000;
const WARMUP_PER_CLIENT = 200;
const TARGET_REPORTS_PER_S = 3_000;
/** PostgreSQL's reports/s must be at least this share of SQLite's in the same run (issue 16). */
const TARGET_POSTGRES_RATIO = 0.9;
/** Each phase stops by itself after this long, whatever it has sent. */
const PHASE_DEADLINE_MS = 180_000;

interface Phase {
  name: string;
  requests: number;
  ok: number;
  errors: number;
  elapsedMs: number;
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
  /** CPU time per request of the master's process and of this (client) process, in µs. */
  serverCpuUs: number | undefined;
  clientCpuUs: number;
  firstError: string | undefined;
}

export interface MetricReportsResult {
  dialect: DialectName;
  anchor: Phase;
  reports: Phase;
  rowsMatch: boolean;
  pass: boolean;
  report: string;
}

interface Master {
  url: string;
  /** CPU time the master's process has used, in µs (undefined when it shares this process). */
  cpuMicros(): Promise<number | undefined>;
  close(): Promise<void>;
}

async function forkedMaster(dataDir: string, db: string): Promise<Master> {
  const masterProcess = fileURLToPath(new URL('./master-process.ts', import.meta.url));
  const child = fork(masterProcess, [dataDir, db], {
    // DET_BENCH_PROFILE=DIR writes a CPU profile of the master to DIR.
    execArgv: [
      '--import',
      'tsx',
      '--conditions=source',
      ...(process.env.DET_BENCH_PROFILE === undefined
        ? []
        : ['--cpu-prof', `--cpu-prof-dir=${process.env.DET_BENCH_PROFILE}`]),
    ],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const url = await new Promise<string>((resolve, reject) => {
    child.once('message', (m: MasterProcessMessage) => {
      if ('url' in m) {
        resolve(m.url);
      }
    });
    void exited.then((code) => reject(new Error(`master process exited with ${code}`)));
  });
  return {
    url,
    cpuMicros: () =>
      new Promise<number>((resolve) => {
        child.once('message', (m: MasterProcessMessage) => {
          if ('cpu' in m) {
            resolve(m.cpu.user + m.cpu.system);
          }
        });
        child.send('cpu');
      }),
    close: async () => {
      child.send('close');
      const code = await exited;
      if (code !== 0) {
        throw new Error(`master process exited with ${code}`);
      }
    },
  };
}

async function inlineMaster(dataDir: string, db: string): Promise<Master> {
  const config = loadConfig(['--port', '0', '--data-dir', dataDir, '--db', db], {});
  if (config === 'help') {
    throw new Error('unreachable: no --help given');
  }
  const master = await startMaster(config, silentLogger);
  return {
    url: master.url,
    cpuMicros: () => Promise.resolve(undefined),
    close: () => master.close(),
  };
}

async function api<T>(
  base: string,
  token: string | undefined,
  method: string,
  path: string,
  body?: unknown,
): Promise<T> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  if (res.status !== 200) {
    throw new Error(`${method} ${path}: ${res.status} ${text}`);
  }
  return JSON.parse(text) as T;
}

interface Trial {
  id: number;
  runId: number;
}

async function setUp(base: string): Promise<{ token: string; trials: Trial[] }> {
  const { token } = await api<{ token: string }>(base, undefined, 'POST', '/api/v1/auth/login', {
    username: 'determined',
    password: '',
  });
  const { experiment } = await api<{ experiment: { id: number } }>(
    base,
    token,
    'POST',
    '/api/v1/experiments',
    {
      config:
        '{name: bench, searcher: {name: single, metric: validation_loss, smaller_is_better: true}}',
      unmanaged: true,
    },
  );
  const trials: Trial[] = [];
  for (let i = 0; i < CLIENTS; i += 1) {
    const { trial } = await api<{ trial: { id: number } }>(base, token, 'POST', '/api/v1/trials', {
      experimentId: experiment.id,
      hparams: { lr: 0.01 * (i + 1) },
      unmanaged: true,
    });
    const { trialRunId } = await api<{ trialRunId: number }>(
      base,
      token,
      'POST',
      `/api/v1/trials/${trial.id}/start`,
      { trialId: trial.id, resume: false },
    );
    trials.push({ id: trial.id, runId: trialRunId });
  }
  return { token, trials };
}

/** One request as a client sends it, and what came back. */
interface Outgoing {
  method: 'GET' | 'POST';
  path: string;
  body?: string;
}
type Send = (req: Outgoing) => Promise<{ status: number; text: string }>;

/** The load generator's HTTP client. */
export type ClientKind = 'fetch' | 'http';

/**
 * `fetch`: the global fetch (undici, keep-alive), as the clients are measured.
 * `http`: node:http with a keep-alive agent of `CLIENTS` sockets, a far cheaper client, which
 * shows what the master sustains when the load generator is not what saturates the machine.
 */
function sender(kind: ClientKind, base: string, token: string): { send: Send; close: () => void } {
  const headers = { authorization: `Bearer ${token}` };
  if (kind === 'fetch') {
    return {
      send: async ({ method, path, body }) => {
        const res = await fetch(`${base}${path}`, {
          method,
          headers,
          ...(body === undefined ? {} : { body }),
        });
        return { status: res.status, text: await res.text() };
      },
      close: () => undefined,
    };
  }
  const agent = new http.Agent({ keepAlive: true, maxSockets: CLIENTS });
  return {
    send: ({ method, path, body }) =>
      httpRequest(agent, `${base}${path}`, {
        method,
        headers,
        ...(body === undefined ? {} : { body }),
      }),
    close: () => agent.destroy(),
  };
}

/**
 * Runs `CLIENTS` loops at once, each sending `count` requests made by `request(client, i)` one
 * after the other, and times each from send to the end of its body.
 */
async function runPhase(
  master: Master,
  send: Send,
  name: string,
  count: number,
  request: (client: number, i: number) => Outgoing,
  onOk: (client: number, i: number) => void = () => undefined,
): Promise<Phase> {
  const latencies = new Float64Array(CLIENTS * count);
  let ok = 0;
  let errors = 0;
  let sent = 0;
  let firstError: string | undefined;
  const serverCpuBefore = await master.cpuMicros();
  const clientCpuBefore = process.cpuUsage();
  const start = performance.now();
  const deadline = start + PHASE_DEADLINE_MS;
  await Promise.all(
    Array.from({ length: CLIENTS }, async (_, client) => {
      for (let i = 0; i < count && performance.now() < deadline; i += 1) {
        const req = request(client, i);
        const t0 = performance.now();
        try {
          const res = await send(req);
          latencies[sent] = performance.now() - t0;
          if (res.status === 200) {
            ok += 1;
            onOk(client, i);
          } else {
            errors += 1;
            firstError ??= `${res.status} ${res.text}`;
          }
        } catch (err: unknown) {
          latencies[sent] = performance.now() - t0;
          errors += 1;
          firstError ??= err instanceof Error ? `${err.message} ${String(err.cause)}` : String(err);
        }
        sent += 1;
      }
    }),
  );
  const elapsedMs = performance.now() - start;
  const clientCpu = process.cpuUsage(clientCpuBefore);
  const serverCpuAfter = await master.cpuMicros();
  const done = latencies.subarray(0, sent);
  return {
    name,
    requests: sent,
    ok,
    errors: errors + (CLIENTS * count - sent),
    elapsedMs,
    perSecond: (sent / elapsedMs) * 1000,
    p50Ms: percentile(done, 0.5),
    p99Ms: percentile(done, 0.99),
    serverCpuUs:
      serverCpuBefore === undefined || serverCpuAfter === undefined
        ? undefined
        : (serverCpuAfter - serverCpuBefore) / sent,
    clientCpuUs: (clientCpu.user + clientCpu.system) / sent,
    firstError,
  };
}

const isValidation = (i: number): boolean => i % 10 === 9;
/** Training reports are at steps 100, 200, ...; a validation reuses the last training step. */
const stepOf = (i: number): number =>
  (i - Math.floor(i / 10) - (isValidation(i) ? 1 : 0) + 1) * 100;

/**
 * The database a run stores into: an SQLite file in `dataDir`, or a fresh schema on the
 * PostgreSQL server at `url`, dropped by `cleanup`.
 */
async function benchDatabase(
  dialect: DialectName,
  dataDir: string,
): Promise<{ url: string; cleanup: () => Promise<void> }> {
  if (dialect === 'sqlite') {
    return { url: join(dataDir, 'master.db'), cleanup: () => Promise.resolve() };
  }
  const server = postgresUrl();
  if (server === undefined) {
    throw new Error('set DET_BENCH_POSTGRES_URL or DET_TEST_POSTGRES_URL for PostgreSQL');
  }
  const schema = `bench_mr_${randomBytes(6).toString('hex')}`;
  const admin = async (statement: string): Promise<void> => {
    const client = new pg.Client({ connectionString: server });
    await client.connect();
    try {
      await client.query(statement);
    } finally {
      await client.end();
    }
  };
  await admin(`create schema ${schema}`);
  return {
    url: withSearchPath(server, schema),
    cleanup: () => admin(`drop schema ${schema} cascade`),
  };
}

/** Live and archived metric rows per group of `trialIds`, read after the master has closed. */
async function countRows(
  url: string,
  trialIds: readonly number[],
): Promise<{ training: number; validation: number }> {
  const db = openDb(url, { poolSize: 1 });
  try {
    const counted = await db.kysely
      .selectFrom('metrics')
      .select(['metric_group', (eb) => eb.fn.countAll<number>().as('n')])
      .where('trial_id', 'in', trialIds)
      .groupBy('metric_group')
      .execute();
    const rows = { training: 0, validation: 0 };
    for (const c of counted) {
      if (c.metric_group === 'training' || c.metric_group === 'validation') {
        rows[c.metric_group] = Number(c.n);
      }
    }
    return rows;
  } finally {
    await db.close();
  }
}

export async function runMetricReportsBench({
  inline = false,
  client = 'fetch',
  dialect = 'sqlite',
}: {
  inline?: boolean;
  client?: ClientKind;
  dialect?: DialectName;
} = {}): Promise<MetricReportsResult> {
  const dir = await tempDir('det-bench-mr-');
  const database = await benchDatabase(dialect, dir.path);
  try {
    const master = inline
      ? await inlineMaster(dir.path, database.url)
      : await forkedMaster(dir.path, database.url);
    let anchor: Phase;
    let reports: Phase;
    const acked = { training: 0, validation: 0 };
    let trials: Trial[];
    try {
      const setup = await setUp(master.url);
      trials = setup.trials;
      const { send, close } = sender(client, master.url, setup.token);
      try {
        const masterInfo = (): Outgoing => ({ method: 'GET', path: '/api/v1/master' });
        await runPhase(master, send, 'warm-up', WARMUP_PER_CLIENT, masterInfo);
        anchor = await runPhase(master, send, 'GET /api/v1/master', REPORTS_PER_CLIENT, masterInfo);
        const rand = Math.random;
        reports = await runPhase(
          master,
          send,
          'POST /api/v1/trials/{id}/metrics',
          REPORTS_PER_CLIENT,
          (c, i) => {
            const trial = setup.trials[c] ?? { id: 0, runId: 0 };
            const validation = isValidation(i);
            return {
              method: 'POST',
              path: `/api/v1/trials/${trial.id}/metrics`,
              body: JSON.stringify({
                group: validation ? 'validation' : 'training',
                metrics: {
                  trialId: trial.id,
                  trialRunId: trial.runId,
                  stepsCompleted: stepOf(i),
                  reportTime: null,
                  metrics: {
                    avgMetrics: validation
                      ? { validation_loss: rand(), accuracy: rand() }
                      : { loss: rand(), lr: 0.01, epoch: Math.floor(i / 100) },
                    batchMetrics: null,
                  },
                },
              }),
            };
          },
          (_, i) => {
            acked[isValidation(i) ? 'validation' : 'training'] += 1;
          },
        );
      } finally {
        close();
      }
    } finally {
      await master.close();
    }
    // Counted after the master has closed: what it acknowledged must be in the database.
    const rows = await countRows(
      database.url,
      trials.map((t) => t.id),
    );
    const rowsMatch = rows.training === acked.training && rows.validation === acked.validation;
    const total = CLIENTS * REPORTS_PER_CLIENT;
    const pass =
      rowsMatch &&
      reports.errors === 0 &&
      reports.ok === total &&
      reports.perSecond >= TARGET_REPORTS_PER_S;
    const phaseRow = (p: Phase): string[] => [
      p.name,
      String(p.requests),
      String(p.ok),
      String(p.errors),
      fmt(p.elapsedMs / 1000),
      fmt(p.perSecond, 0),
      fmt(p.p50Ms),
      fmt(p.p99Ms),
      p.serverCpuUs === undefined ? 'n/a' : fmt(p.serverCpuUs, 0),
      fmt(p.clientCpuUs, 0),
    ];
    const report = [
      `Metric reports (client: ${client === 'fetch' ? 'global fetch, keep-alive' : 'node:http keep-alive agent'}): ${CLIENTS} concurrent clients × ${REPORTS_PER_CLIENT} requests, master ${inline ? 'in this process' : 'in its own process'}, ${dialect === 'sqlite' ? 'SQLite file' : 'PostgreSQL'}`,
      table(
        [
          'phase',
          'requests',
          '200s',
          'errors',
          'seconds',
          'req/s',
          'p50 ms',
          'p99 ms',
          'master CPU µs/req',
          'client CPU µs/req',
        ],
        [phaseRow(anchor), phaseRow(reports)],
      ),
      `rows in DB: training ${rows.training} (acknowledged ${acked.training}), validation ${rows.validation} (acknowledged ${acked.validation}) → ${rowsMatch ? 'none lost' : 'MISMATCH'}`,
      `reports/s ÷ anchor/s = ${fmt(reports.perSecond / anchor.perSecond)}`,
      ...(reports.firstError === undefined ? [] : [`first report error: ${reports.firstError}`]),
      ...(anchor.firstError === undefined ? [] : [`first anchor error: ${anchor.firstError}`]),
      `target: ≥ ${TARGET_REPORTS_PER_S} reports/s, all ${total} acknowledged and stored → ${pass ? 'PASS' : 'FAIL'}`,
      pass ? `metric reports (${dialect}): PASS` : `metric reports (${dialect}): FAIL`,
    ].join('\n');
    console.log(report);
    return { dialect, anchor, reports, rowsMatch, pass, report };
  } finally {
    await database.cleanup();
    await dir.cleanup();
  }
}

/** Issue 16's comparison of two runs of the same script: PostgreSQL against SQLite. */
export function comparePostgres(
  sqlite: MetricReportsResult,
  postgres: MetricReportsResult,
): { pass: boolean; report: string } {
  const ratio = postgres.reports.perSecond / sqlite.reports.perSecond;
  const pass = postgres.pass && ratio >= TARGET_POSTGRES_RATIO;
  const cpu = (r: MetricReportsResult): string =>
    r.reports.serverCpuUs === undefined ? 'n/a' : `${fmt(r.reports.serverCpuUs, 0)} µs`;
  return {
    pass,
    report: [
      `PostgreSQL ÷ SQLite: ${fmt(postgres.reports.perSecond, 0)} ÷ ${fmt(sqlite.reports.perSecond, 0)} reports/s = ${fmt(ratio)} (master CPU per report ${cpu(postgres)} against ${cpu(sqlite)})`,
      `target: PostgreSQL ≥ ${TARGET_POSTGRES_RATIO} × SQLite and ≥ ${TARGET_REPORTS_PER_S} reports/s, none lost → ${pass ? 'PASS' : 'FAIL'}`,
    ].join('\n'),
  };
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const options = {
    inline: process.argv.includes('--inline'),
    client: process.argv.includes('--client=http') ? ('http' as const) : ('fetch' as const),
  };
  const sqlite = await runMetricReportsBench(options);
  let pass = sqlite.pass;
  if (postgresUrl() !== undefined) {
    const postgres = await runMetricReportsBench({ ...options, dialect: 'postgres' });
    const compared = comparePostgres(sqlite, postgres);
    console.log(compared.report);
    pass &&= compared.pass;
  }
  process.exitCode = pass ? 0 : 1;
}
