/**
 * The web UI at scale: the master's time for every request each UI page makes, with 10,000
 * experiments and one trial holding 100,000 checkpoints and 100,000 training reports.
 *
 * Measures "server time" as checkpoint-query.ts does: `app.fetch(new Request(...))` in-process,
 * auth lookup, queries and the whole JSON body. The anchor is `GET /api/v1/master` in the same
 * process (no database work), so the ratios say how far each page is from the bare request cost
 * on this machine. Target (ours; issue 6 says "stays usable"): the requests of each page, summed
 * (the UI sends them at once, so this overstates), take ≤ 250 ms median. On SQLite, and on
 * PostgreSQL when DET_BENCH_POSTGRES_URL or DET_TEST_POSTGRES_URL is set.
 *
 *   node --import tsx --conditions=source bench/ui-scale.ts
 */
import { join } from 'node:path';

import { migrate, openDb } from '../packages/master/src/db/connect.js';
import type { Db } from '../packages/master/src/db/connect.js';
import { seedScale } from '../packages/master/test/bulk.js';
import { appFor, login } from './checkpoint-query.js';
import type { App } from './checkpoint-query.js';
import { fmt, median, postgresUrl, privatePostgres, table, tempDir } from './lib.js';

const EXPERIMENTS = 10_000;
const CHECKPOINTS = 100_000;
const RUNS = 15;
const TARGET_PAGE_MS = 250;

/** The requests each page sends (as the UI sends them), for the seeded big trial. */
function pages(experimentId: number, trialId: number): Record<string, string[]> {
  const trialCheckpoints = `/api/v1/trials/${trialId}/checkpoints`;
  return {
    'experiments (sorted by best, page 200)': [
      '/api/v1/me',
      '/api/v1/experiments?sortBy=SORT_BY_SEARCHER_METRIC_VAL&orderBy=ORDER_BY_ASC&offset=3980&limit=20',
    ],
    'experiments (sorted by size)': [
      '/api/v1/experiments?sortBy=SORT_BY_CHECKPOINT_SIZE&orderBy=ORDER_BY_DESC&offset=0&limit=20',
    ],
    experiment: [
      `/api/v1/experiments/${experimentId}`,
      `/api/v1/experiments/${experimentId}/trials?sortBy=SORT_BY_ID&offset=0&limit=20`,
      `/api/v1/experiments/${experimentId}/checkpoints?states=STATE_COMPLETED&offset=0&limit=10`,
    ],
    'trial (chart, markers, table page 2,500 by size, best, latest, logs)': [
      `/api/v1/trials/${trialId}`,
      `/api/v1/trials/time-series?trialIds=${trialId}&group=training&metricNames=loss&maxDatapoints=1000`,
      `/api/v1/trials/${trialId}/checkpoint-markers?maxMarkers=500`,
      `${trialCheckpoints}?sortByAttr=SORT_BY_SIZE&orderBy=ORDER_BY_DESC&offset=50000&limit=20`,
      `${trialCheckpoints}?states=STATE_COMPLETED&offset=0&limit=1`,
      `${trialCheckpoints}?sortByAttr=SORT_BY_BATCH_NUMBER&orderBy=ORDER_BY_DESC&states=STATE_COMPLETED&offset=0&limit=1`,
      `/api/v1/trials/${trialId}/logs?limit=200&orderBy=ORDER_BY_DESC`,
    ],
    checkpoint: ['/api/v1/checkpoints/00000000-0000-4000-9000-000000000001'],
  };
}

async function timeOnce(app: App, token: string, path: string): Promise<number> {
  const started = performance.now();
  const res = await app.fetch(
    new Request(`http://master.bench${path}`, { headers: { authorization: `Bearer ${token}` } }),
  );
  const body = await res.text();
  const ms = performance.now() - started;
  if (res.status !== 200) {
    throw new Error(`GET ${path}: ${res.status} ${body.slice(0, 200)}`);
  }
  return ms;
}

/** Median of {@link RUNS} timings after one warm-up call. */
async function medianMs(app: App, token: string, path: string): Promise<number> {
  await timeOnce(app, token, path);
  const times: number[] = [];
  for (let i = 0; i < RUNS; i += 1) {
    times.push(await timeOnce(app, token, path));
  }
  return median(times);
}

async function benchOn(dialect: string, db: Db, storageDir: string): Promise<boolean> {
  const seeded = performance.now();
  const { experimentId, trialId } = await seedScale(db, {
    experiments: EXPERIMENTS,
    checkpoints: CHECKPOINTS,
    trainingReports: CHECKPOINTS,
  });
  console.log(`[${dialect}] seeded in ${fmt((performance.now() - seeded) / 1000, 1)} s`);
  const app = appFor(db, storageDir);
  const token = await login(app);
  const anchor = await medianMs(app, token, '/api/v1/master');
  const rows: string[][] = [];
  let pass = true;
  for (const [page, paths] of Object.entries(pages(experimentId, trialId))) {
    let total = 0;
    for (const path of paths) {
      const ms = await medianMs(app, token, path);
      total += ms;
      rows.push(['', path.slice(0, 100), fmt(ms), fmt(ms / anchor, 0)]);
    }
    const ok = total <= TARGET_PAGE_MS;
    pass &&= ok;
    rows.push([
      page,
      `(${paths.length} requests)`,
      fmt(total),
      fmt(total / anchor, 0),
      ok ? 'PASS' : 'FAIL',
    ]);
  }
  console.log(
    `\n[${dialect}] ${EXPERIMENTS} experiments, ${CHECKPOINTS} checkpoints and training reports in one trial; anchor GET /api/v1/master ${fmt(anchor, 3)} ms\n`,
  );
  console.log(table(['page', 'request', 'median ms', '× anchor', `≤ ${TARGET_PAGE_MS} ms`], rows));
  return pass;
}

const dir = await tempDir('det-bench-ui-');
let pass = true;
try {
  const sqlite = openDb(join(dir.path, 'master.db'));
  await migrate(sqlite);
  try {
    // Not `&&=`: the PostgreSQL run must happen whatever SQLite gave.
    pass = (await benchOn('sqlite', sqlite, join(dir.path, 'checkpoints'))) && pass;
  } finally {
    await sqlite.close();
  }
  const url = postgresUrl();
  if (url !== undefined) {
    const { db } = await privatePostgres(url);
    try {
      pass = (await benchOn('postgres', db, join(dir.path, 'checkpoints'))) && pass;
    } finally {
      await db.close();
    }
  }
} finally {
  await dir.cleanup();
}
console.log(`\nui scale: ${pass ? 'PASS' : 'FAIL'}`);
process.exitCode = pass ? 0 : 1;
