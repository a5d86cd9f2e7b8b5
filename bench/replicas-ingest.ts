/**
 * Metric ingest through two det-master replicas behind nginx (issue 16): both replicas as real
 * processes on one fresh PostgreSQL database, Debian's nginx with the repository's
 * deploy/nginx/det-master.conf in front, and 16 clients (node:http, keep-alive) each reporting
 * its own trial's steps in order through nginx: nine training reports, then a validation.
 *
 * Every request must get a 200; afterwards the metric rows must equal the acknowledged reports.
 * Target: ≥ 3,000 reports/s with 0 lost. Needs DET_BENCH_POSTGRES_URL or DET_TEST_POSTGRES_URL.
 *
 *   node --import tsx --conditions=source bench/replicas-ingest.ts
 */
import http from 'node:http';
import { join } from 'node:path';

import pg from 'pg';

import {
  freePort,
  freshPostgresDatabase,
  spawnMaster,
} from '../packages/master/test/child-master.js';
import { startNginx } from '../packages/master/test/nginx.js';
import { fmt, httpRequest, log, percentile, postgresUrl, table, tempDir } from './lib.js';

const CLIENTS = 16;
const REPLICAS = 2;
const REPORTS_PER_CLIENT = 1_500;
const WARMUP_PER_CLIENT = 100;
const TARGET_REPORTS_PER_S = 3_000;

type Send = (
  method: string,
  path: string,
  body?: unknown,
) => Promise<{ status: number; text: string }>;

function httpSender(base: string, token: string | undefined): { send: Send; close: () => void } {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CLIENTS });
  const headers = token === undefined ? {} : { authorization: `Bearer ${token}` };
  const send: Send = (method, path, body) =>
    httpRequest(agent, `${base}${path}`, {
      method,
      headers,
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  return { send, close: () => agent.destroy() };
}

async function ok<T>(send: Send, method: string, path: string, body?: unknown): Promise<T> {
  const res = await send(method, path, body);
  if (res.status !== 200) {
    throw new Error(`${method} ${path}: ${res.status} ${res.text}`);
  }
  return JSON.parse(res.text) as T;
}

const isValidation = (i: number): boolean => i % 10 === 9;
/** Training reports at steps 100, 200, ...; a validation reuses the last training step. */
const stepOf = (i: number): number =>
  (i - Math.floor(i / 10) - (isValidation(i) ? 1 : 0) + 1) * 100;

async function main(): Promise<number> {
  const base = postgresUrl();
  if (base === undefined) {
    log('replicas-ingest: set DET_BENCH_POSTGRES_URL or DET_TEST_POSTGRES_URL');
    return 2;
  }
  const dir = await tempDir('det-bench-replicas-');
  const database = await freshPostgresDatabase();
  const ports = await Promise.all(Array.from({ length: REPLICAS }, () => freePort()));
  const replicas = await Promise.all(
    ports.map((port, i) =>
      spawnMaster([
        '--port',
        String(port),
        '--db',
        database.url,
        '--data-dir',
        join(dir.path, `replica-${i}`),
        '--checkpoint-storage',
        join(dir.path, 'checkpoints'),
      ]),
    ),
  );
  const nginx = await startNginx(ports.map((p) => `127.0.0.1:${p}`));
  try {
    const anonymous = httpSender(nginx.url, undefined);
    const { token } = await ok<{ token: string }>(anonymous.send, 'POST', '/api/v1/auth/login', {
      username: 'determined',
      password: '',
    });
    anonymous.close();
    const { send, close } = httpSender(nginx.url, token);
    const { experiment } = await ok<{ experiment: { id: number } }>(
      send,
      'POST',
      '/api/v1/experiments',
      {
        config:
          '{name: bench, searcher: {name: single, metric: validation_loss, smaller_is_better: true}}',
        unmanaged: true,
      },
    );
    const trials: { id: number; runId: number }[] = [];
    for (let c = 0; c < CLIENTS; c += 1) {
      const { trial } = await ok<{ trial: { id: number } }>(send, 'POST', '/api/v1/trials', {
        experimentId: experiment.id,
        hparams: { c },
        unmanaged: true,
      });
      const { trialRunId } = await ok<{ trialRunId: number }>(
        send,
        'POST',
        `/api/v1/trials/${trial.id}/start`,
        { trialId: trial.id, resume: false },
      );
      trials.push({ id: trial.id, runId: trialRunId });
    }

    const report = (c: number, i: number) => {
      const trial = trials[c] ?? { id: 0, runId: 0 };
      const validation = isValidation(i);
      return send('POST', `/api/v1/trials/${trial.id}/metrics`, {
        group: validation ? 'validation' : 'training',
        metrics: {
          trialId: trial.id,
          trialRunId: trial.runId,
          stepsCompleted: stepOf(i),
          reportTime: null,
          metrics: {
            avgMetrics: validation
              ? { validation_loss: i % 97, accuracy: i % 7 }
              : { loss: i % 89 },
            batchMetrics: null,
          },
        },
      });
    };
    let acked = 0;
    let errors = 0;
    let firstError: string | undefined;
    const latencies: number[] = [];
    const phase = async (from: number, to: number, isMeasured: boolean): Promise<number> => {
      const start = performance.now();
      await Promise.all(
        Array.from({ length: CLIENTS }, async (_, c) => {
          for (let i = from; i < to; i += 1) {
            const t0 = performance.now();
            try {
              const res = await report(c, i);
              if (res.status === 200) {
                acked += 1;
              } else {
                errors += 1;
                firstError ??= `${res.status} ${res.text}`;
              }
            } catch (err: unknown) {
              errors += 1;
              firstError ??= err instanceof Error ? err.message : String(err);
            }
            if (isMeasured) {
              latencies.push(performance.now() - t0);
            }
          }
        }),
      );
      return performance.now() - start;
    };
    await phase(0, WARMUP_PER_CLIENT, false);
    const elapsedMs = await phase(WARMUP_PER_CLIENT, WARMUP_PER_CLIENT + REPORTS_PER_CLIENT, true);
    close();

    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    const { rows } = await client.query<{ n: string }>(
      'select count(*) as n from metrics where trial_id = any($1)',
      [trials.map((t) => t.id)],
    );
    await client.end();
    const stored = Number(rows[0]?.n ?? 0);
    const perSecond = (CLIENTS * REPORTS_PER_CLIENT * 1000) / elapsedMs;
    const lost = acked - stored;
    const pass = errors === 0 && lost === 0 && perSecond >= TARGET_REPORTS_PER_S;
    log(
      `Metric reports through nginx in front of ${REPLICAS} replicas on PostgreSQL, ${CLIENTS} clients\n` +
        table(
          [
            'reports',
            'acked',
            'errors',
            'stored',
            'lost',
            's',
            'reports/s',
            'target',
            'p50 ms',
            'p99 ms',
          ],
          [
            [
              String(CLIENTS * (WARMUP_PER_CLIENT + REPORTS_PER_CLIENT)),
              String(acked),
              String(errors),
              String(stored),
              String(lost),
              fmt(elapsedMs / 1000),
              fmt(perSecond, 0),
              `≥ ${TARGET_REPORTS_PER_S}`,
              fmt(percentile(latencies, 0.5)),
              fmt(percentile(latencies, 0.99)),
            ],
          ],
        ) +
        (firstError === undefined ? '' : `\nfirst error: ${firstError}`) +
        `\n${pass ? 'PASS' : 'FAIL'}`,
    );
    return pass ? 0 : 1;
  } finally {
    await nginx.stop();
    for (const r of replicas) {
      r.child.kill('SIGTERM');
      await r.exited;
    }
    await database.drop();
    await dir.cleanup();
  }
}

process.exitCode = await main();
