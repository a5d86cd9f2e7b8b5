// The real Determined Python SDK (v0.38.1) against the real master over loopback: the script
// trains an unmanaged trial with core_v2, then lists, selects and downloads its checkpoints with
// `determined.experimental.client`, and checks every answer itself (scripts/python-sdk-e2e.py).
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { findPythonSdk, harnessDir, runPython } from '../../../test/python-harness.js';
import { loadConfig } from '../src/config.js';
import type { DialectName } from '../src/db/dialect.js';
import { silentLogger } from '../src/logger.js';
import { startMaster } from '../src/server.js';
import { testDialects } from './helpers.js';

const SCRIPT = fileURLToPath(new URL('../../../scripts/python-sdk-e2e.py', import.meta.url));

/** A database URL for `dialect`; PostgreSQL gets a private schema, dropped by `drop`. */
async function masterDb(
  dialect: DialectName,
  dir: string,
): Promise<{ url: string; drop: () => Promise<void> }> {
  if (dialect === 'sqlite') {
    // A real file, as a user's master has, not :memory:.
    return { url: join(dir, 'master.db'), drop: () => Promise.resolve() };
  }
  const url = process.env.DET_TEST_POSTGRES_URL;
  if (url === undefined) {
    throw new Error('DET_TEST_POSTGRES_URL is not set');
  }
  const schema = `sdk_${Math.random().toString(16).slice(2, 10)}`;
  const admin = async (statement: string): Promise<void> => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      await client.query(statement);
    } finally {
      await client.end();
    }
  };
  await admin(`create schema ${schema}`);
  const sep = url.includes('?') ? '&' : '?';
  return {
    url: `${url}${sep}options=${encodeURIComponent(`-c search_path=${schema}`)}`,
    drop: () => admin(`drop schema ${schema} cascade`),
  };
}

/** Runs the e2e script with a clean environment: no DET_USER/DET_PASS or token cache leaks in. */
function runScript(harness: string, masterUrl: string, dir: string): ReturnType<typeof runPython> {
  return runPython(
    SCRIPT,
    ['--master', masterUrl, '--work-dir', join(dir, 'work')],
    {
      HOME: join(dir, 'home'),
      PYTHONPATH: harness,
      PYTHONDONTWRITEBYTECODE: '1',
      DET_MASTER: masterUrl,
      DET_DEBUG_CONFIG_PATH: join(dir, 'det-config'),
    },
    { timeoutMs: 170_000 },
  );
}

interface Summary {
  ok: boolean;
  master: string;
  experimentId: number;
  trialId: number;
  checkpoints: number;
  best: string;
  latest: string;
  bestValidationLoss: number;
  trainingMetrics: number;
  validationMetrics: number;
  logLines: number;
  downloads: { auto: number; master: number };
  checks: number;
}

const prerequisites = findPythonSdk();
if (prerequisites.missing !== undefined) {
  process.stderr.write(`python-sdk.test.ts skipped: missing ${prerequisites.missing}\n`);
}

describe.skipIf(prerequisites.missing !== undefined)(
  prerequisites.missing === undefined
    ? 'Determined Python SDK v0.38.1 against the master'
    : `Determined Python SDK v0.38.1 against the master (skipped: missing ${prerequisites.missing})`,
  () => {
    let pythonPath = '';
    let extractedTo: string | undefined;
    beforeAll(async () => {
      const source = prerequisites.source;
      if (source === undefined) {
        throw new Error('no harness source');
      }
      if (source.kind === 'mirror') {
        extractedTo = await mkdtemp(join(tmpdir(), 'det-harness-'));
      }
      pythonPath = await harnessDir(source, extractedTo ?? '');
    }, 120_000);
    afterAll(async () => {
      if (extractedTo !== undefined) {
        await rm(extractedTo, { recursive: true, force: true });
      }
    });

    for (const dialect of testDialects()) {
      it(`trains, then lists, selects and downloads checkpoints [${dialect}]`, async () => {
        const dir = await mkdtemp(join(tmpdir(), 'det-sdk-e2e-'));
        const db = await masterDb(dialect, dir);
        try {
          await mkdir(join(dir, 'home'));
          const config = loadConfig(
            ['--port', '0', '--data-dir', join(dir, 'data'), '--db', db.url],
            {},
          );
          if (config === 'help') {
            throw new Error('loadConfig returned help');
          }
          const master = await startMaster(config, silentLogger);
          try {
            const run = await runScript(pythonPath, master.url, dir);
            expect(run.code, `script failed:\n${run.stderr}\n${run.stdout}`).toBe(0);
            const lastLine = run.stdout.trim().split('\n').at(-1) ?? '';
            const summary = JSON.parse(lastLine) as Summary;
            expect(summary).toMatchObject({
              ok: true,
              master: master.url,
              checkpoints: 6,
              bestValidationLoss: 0.2,
              trainingMetrics: 6,
              validationMetrics: 5,
              downloads: { auto: 6, master: 6 },
            });
            expect(summary.logLines).toBeGreaterThanOrEqual(6);
            expect(summary.best).not.toBe(summary.latest);

            // Cross-check what the SDK left behind through our own HTTP surface.
            const login = await fetch(`${master.url}/api/v1/auth/login`, {
              method: 'POST',
              body: JSON.stringify({ username: 'determined', password: '' }),
            });
            const { token } = (await login.json()) as { token: string };
            const get = async <T>(path: string): Promise<T> => {
              const res = await fetch(`${master.url}${path}`, {
                headers: { authorization: `Bearer ${token}` },
              });
              expect(res.status, path).toBe(200);
              return (await res.json()) as T;
            };
            const trial = await get<{ trial: { state: string; experimentId: number } }>(
              `/api/v1/trials/${summary.trialId}`,
            );
            expect(trial.trial).toMatchObject({
              state: 'STATE_COMPLETED',
              experimentId: summary.experimentId,
            });
            type Listing = { checkpoints: { uuid: string }[] };
            const best = await get<Listing>(
              `/api/v1/trials/${summary.trialId}/checkpoints?sortByAttr=SORT_BY_SEARCHER_METRIC&limit=1`,
            );
            expect(best.checkpoints.map((c) => c.uuid)).toEqual([summary.best]);
            const latest = await get<Listing>(
              `/api/v1/trials/${summary.trialId}/checkpoints?sortByAttr=SORT_BY_BATCH_NUMBER&orderBy=ORDER_BY_DESC&limit=1`,
            );
            expect(latest.checkpoints.map((c) => c.uuid)).toEqual([summary.latest]);
          } finally {
            await master.close();
          }
        } finally {
          await db.drop();
          await rm(dir, { recursive: true, force: true });
        }
      }, 180_000);
    }
  },
);
