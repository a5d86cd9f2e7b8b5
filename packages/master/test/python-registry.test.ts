// The real Determined Python SDK (v0.38.1) and its `det model` CLI against our master over
// loopback, on each test dialect: a trial reports two checkpoints into the master's own storage
// (core_v2), then one SDK process drives a whole model-registry lifecycle and prints a JSON
// summary that is checked here, and the CLI's model commands run against the same checkpoints.
// Determined's code is extracted into a scratch dir at run time, never committed.
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  findPythonSdk,
  harnessDir,
  missingCliModules,
  runPythonArgv,
} from '../../../test/python-harness.js';
import { loadConfig } from '../src/config.js';
import type { DialectName } from '../src/db/dialect.js';
import { silentLogger } from '../src/logger.js';
import { startMaster } from '../src/server.js';
import type { RunningMaster } from '../src/server.js';
import { testDialects } from './helpers.js';

/**
 * `seed` reports two checkpoints (steps 10 and 20) of one unmanaged trial from the trees under
 * <staging>/step-N; `registry` drives the registry with `determined.experimental.client`. Each
 * prints one JSON line last.
 */
const SCRIPT = fileURLToPath(new URL('../../../scripts/python-registry-e2e.py', import.meta.url));

/** Two checkpoints' files: binary, nested and empty ones, different per step. */
function checkpointTree(steps: number): Record<string, Buffer> {
  const blob = Buffer.alloc(3000 + steps);
  for (let i = 0; i < blob.length; i++) {
    blob[i] = (steps * 7 + i * 13) % 256;
  }
  return {
    'model.bin': blob,
    'config.json': Buffer.from(JSON.stringify({ steps })),
    'sub/dir/notes.txt': Buffer.from(`checkpoint at step ${steps}\n`),
    'sub/empty.txt': Buffer.alloc(0),
  };
}

async function writeTree(root: string, tree: Record<string, Buffer>): Promise<void> {
  for (const [rel, data] of Object.entries(tree)) {
    await mkdir(dirname(join(root, rel)), { recursive: true });
    await writeFile(join(root, rel), data);
  }
}

async function readTree(root: string): Promise<Record<string, Buffer>> {
  const out: Record<string, Buffer> = {};
  for (const entry of await readdir(root, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) {
      const path = join(entry.parentPath, entry.name);
      out[path.slice(root.length + 1)] = await readFile(path);
    }
  }
  return out;
}

/** Runs `fn` holding the advisory lock helpers.ts takes around migrations and schema drops. */
async function withPgLock(url: string, fn: (client: pg.Client) => Promise<void>): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query('select pg_advisory_lock(727001)');
    await fn(client);
  } finally {
    await client.end();
  }
}

/** The master as a user runs it, on a file (SQLite) or a private schema (PostgreSQL). */
async function startTestMaster(
  dialect: DialectName,
  dir: string,
): Promise<{ master: RunningMaster; dataDir: string; close: () => Promise<void> }> {
  const dataDir = join(dir, 'data');
  const start = async (db: string): Promise<RunningMaster> => {
    const config = loadConfig(['--port', '0', '--data-dir', dataDir, '--db', db], {});
    if (config === 'help') {
      throw new Error('loadConfig returned help');
    }
    return startMaster(config, silentLogger);
  };
  if (dialect === 'sqlite') {
    const master = await start(join(dir, 'master.db'));
    return { master, dataDir, close: () => master.close() };
  }
  const url = process.env.DET_TEST_POSTGRES_URL;
  if (url === undefined) {
    throw new Error('DET_TEST_POSTGRES_URL is not set');
  }
  const schema = `registry_${Math.random().toString(16).slice(2, 10)}`;
  const sep = url.includes('?') ? '&' : '?';
  let master: RunningMaster | undefined;
  await withPgLock(url, async (client) => {
    await client.query(`create schema ${schema}`);
    try {
      master = await start(`${url}${sep}options=${encodeURIComponent(`-c search_path=${schema}`)}`);
    } catch (err: unknown) {
      await client.query(`drop schema ${schema} cascade`);
      throw err;
    }
  });
  const running = master as RunningMaster;
  return {
    master: running,
    dataDir,
    close: async () => {
      await running.close();
      await withPgLock(url, async (client) => {
        await client.query(`drop schema ${schema} cascade`);
      });
    },
  };
}

type Run = { code: number | null; stdout: string; stderr: string };

/** The last stdout line of a run as JSON, after checking it exited 0. */
function lastJson<T>(run: Run, what: string): T {
  expect(run.code, `${what} failed:\n${run.stderr}\n${run.stdout}`).toBe(0);
  return JSON.parse(run.stdout.trim().split('\n').at(-1) ?? '') as T;
}

interface Failure {
  type: string;
  status: number;
  message: string;
}

interface ModelView {
  id: number;
  name: string;
  description: string;
  metadata: Record<string, unknown>;
  labels: string[];
  username: string;
  workspaceId: number;
  archived: boolean;
  hasTimes: boolean;
}

interface VersionView {
  version: number;
  modelId: number;
  modelName: string;
  name: string | null;
  notes: string;
  comment: string;
  metadata: Record<string, unknown>;
  uuid: string;
  state: string;
  checkpointMetadata: Record<string, unknown>;
  trialId: number;
  experimentId: number;
  storageType: string;
}

interface Summary {
  created: ModelView;
  duplicate: Failure | null;
  emptyLatest: boolean;
  registered: VersionView[];
  versionMetrics: { trialId: number; steps: number; metrics: unknown; group: string }[];
  otherVersionMetrics: number;
  latest: VersionView;
  first: VersionView;
  listDesc: number[];
  listAsc: number[];
  listUuids: string[];
  models: string[];
  modelsDesc: string[];
  modelsNamed: string[];
  modelsById: string[];
  byName: ModelView;
  byId: ModelView;
  labels: string[];
  reloaded: ModelView;
  fetchedAfterEdits: ModelView;
  labelsAfterEdits: string[];
  v1Reloaded: VersionView;
  v1Fetched: VersionView;
  v2Untouched: VersionView;
  downloads: Record<string, { uuid: string; path: boolean }>;
  deleteRegistered: Failure | null;
  deleteRegisteredFetched: Failure | null;
  archived: boolean;
  registerWhileArchived: Failure | null;
  patchWhileArchived: Failure | null;
  modelsWhileArchived: string[];
  latestWhileArchived: number;
  unarchived: boolean;
  descriptionAfterArchive: string;
  v3: VersionView;
  getDeletedVersion: Failure | null;
  afterVersionDelete: number[];
  reRegistered: number;
  getDeletedByName: Failure | null;
  getDeletedById: Failure | null;
  versionOfDeleted: Failure | null;
  modelsAfterDelete: string[];
  labelsAfterDelete: string[];
}

interface Seeded {
  trialId: number;
  experimentId: number;
  uuids: [string, string];
}

const prerequisites = findPythonSdk();
const cliMissing = missingCliModules();
if (prerequisites.missing !== undefined) {
  process.stderr.write(`python-registry.test.ts skipped: missing ${prerequisites.missing}\n`);
} else if (cliMissing !== undefined) {
  process.stderr.write(`python-registry.test.ts: det model part skipped: missing ${cliMissing}\n`);
}

describe.skipIf(prerequisites.missing !== undefined)(
  'Determined Python SDK and `det model` v0.38.1 against the model registry',
  () => {
    let pythonPath = '';
    let scratch = '';
    beforeAll(async () => {
      if (prerequisites.source === undefined) {
        throw new Error('no harness source');
      }
      scratch = await mkdtemp(join(tmpdir(), 'det-registry-py-'));
      pythonPath = await harnessDir(prerequisites.source, scratch);
    }, 120_000);
    afterAll(async () => {
      if (scratch !== '') {
        await rm(scratch, { recursive: true, force: true });
      }
    });

    for (const dialect of testDialects()) {
      describe(`[${dialect}]`, () => {
        let dir = '';
        let started: Awaited<ReturnType<typeof startTestMaster>> | undefined;
        let url = '';
        let seeded: Seeded;
        const trees = { 10: checkpointTree(10), 20: checkpointTree(20) };

        /** A clean environment: the token cache lives in this dialect's scratch home. */
        const env = (): Record<string, string> => ({
          HOME: join(dir, 'home'),
          PYTHONPATH: pythonPath,
          PYTHONDONTWRITEBYTECODE: '1',
          DET_MASTER: url,
          DET_DEBUG_CONFIG_PATH: join(dir, 'det-config'),
        });
        const script = (mode: string, arg: unknown): Promise<Run> =>
          runPythonArgv([SCRIPT, mode, JSON.stringify(arg)], env(), {
            timeoutMs: 60_000,
          });

        beforeAll(async () => {
          dir = await mkdtemp(join(scratch, `${dialect}-`));
          await mkdir(join(dir, 'home'));
          started = await startTestMaster(dialect, dir);
          url = started.master.url;
          await writeTree(join(dir, 'staging', 'step-10'), trees[10]);
          await writeTree(join(dir, 'staging', 'step-20'), trees[20]);
          seeded = lastJson<Seeded>(
            await script('seed', {
              storage: join(started.dataDir, 'checkpoints'),
              staging: join(dir, 'staging'),
            }),
            'seeding checkpoints with core_v2',
          );
        }, 90_000);
        afterAll(async () => {
          await started?.close();
        });

        it('drives a whole registry lifecycle with the Python SDK', async () => {
          const [uuidA, uuidB] = seeded.uuids;
          // The checkpoints' files really are in the master's own storage.
          expect(await readTree(join(started?.dataDir ?? '', 'checkpoints', uuidA))).toMatchObject(
            trees[10],
          );

          const downloads = join(dir, 'downloads');
          const summary = lastJson<Summary>(
            await script('registry', {
              master: url,
              uuids: seeded.uuids,
              trialId: seeded.trialId,
              downloads,
            }),
            'the registry lifecycle',
          );

          const model = {
            id: 1,
            name: 'registry e2e',
            description: 'first description',
            metadata: { team: 'vision', stage: 1 },
            labels: ['prod', 'resnet'],
            username: 'determined',
            workspaceId: 1,
            archived: false,
            hasTimes: true,
          };
          expect(summary.created).toEqual(model);
          expect(summary.duplicate).toMatchObject({ type: 'APIException', status: 409 });
          expect(summary.emptyLatest).toBe(true);

          const version = (
            n: number,
            uuid: string,
            steps: number,
            extra: Partial<VersionView> = {},
          ): VersionView => ({
            version: n,
            modelId: 1,
            modelName: 'registry e2e',
            name: '',
            notes: '',
            comment: '',
            metadata: {},
            uuid,
            state: 'COMPLETED',
            checkpointMetadata: { steps_completed: steps },
            trialId: seeded.trialId,
            experimentId: seeded.experimentId,
            storageType: 'directory',
            ...extra,
          });
          expect(summary.registered).toEqual([version(1, uuidA, 10), version(2, uuidB, 20)]);
          // The trial, linked to version 1 as an inference task, shows its validations there.
          expect(summary.versionMetrics).toEqual(
            [
              [10, 0.5],
              [20, 0.25],
            ].map(([steps, loss]) => ({
              trialId: seeded.trialId,
              steps,
              metrics: { validation_loss: loss },
              group: 'validation',
            })),
          );
          expect(summary.otherVersionMetrics).toBe(0);
          expect(summary.latest).toEqual(version(2, uuidB, 20));
          expect(summary.first).toEqual(version(1, uuidA, 10));
          expect(summary.listDesc).toEqual([2, 1]);
          expect(summary.listAsc).toEqual([1, 2]);
          expect(summary.listUuids).toEqual([uuidB, uuidA]);

          expect(summary.models).toEqual(['other model', 'registry e2e']);
          expect(summary.modelsDesc).toEqual(['registry e2e', 'other model']);
          expect(summary.modelsNamed).toEqual(['registry e2e']);
          expect(summary.modelsById).toEqual(['other model']);
          expect(summary.byName).toEqual(model);
          expect(summary.byId).toEqual(model);
          // Most used first, then by name.
          expect(summary.labels).toEqual(['resnet', 'prod']);

          const edited = {
            ...model,
            description: 'second description',
            metadata: { team: 'vision', owner: 'ml' },
            labels: ['prod', 'v2'],
          };
          expect(summary.reloaded).toEqual(edited);
          expect(summary.fetchedAfterEdits).toEqual(edited);
          expect(summary.labelsAfterEdits).toEqual(['prod', 'resnet', 'v2']);

          const renamed = version(1, uuidA, 10, {
            name: 'baseline',
            notes: '# Baseline\nfirst run',
          });
          expect(summary.v1Reloaded).toEqual(renamed);
          expect(summary.v1Fetched).toEqual(renamed);
          expect(summary.v2Untouched).toEqual(version(2, uuidB, 20));

          // Downloads in both modes hold exactly the reported files, plus metadata.json.
          expect(summary.downloads).toEqual({
            'auto-v1': { uuid: uuidA, path: true },
            'master-v1': { uuid: uuidA, path: true },
            'auto-v2': { uuid: uuidB, path: true },
            'master-v2': { uuid: uuidB, path: true },
          });
          for (const [key, steps] of [
            ['auto-v1', 10],
            ['master-v1', 10],
            ['auto-v2', 20],
            ['master-v2', 20],
          ] as const) {
            const got = await readTree(join(downloads, key));
            const meta = got['metadata.json'];
            delete got['metadata.json'];
            expect(got, key).toEqual(trees[steps]);
            expect(JSON.parse(meta?.toString() ?? 'null'), key).toEqual({
              steps_completed: steps,
            });
          }

          // A registered checkpoint cannot be deleted: 400 naming the model and version.
          expect(summary.deleteRegistered).toMatchObject({ type: 'APIException', status: 400 });
          expect(summary.deleteRegistered?.message).toContain(uuidA);
          expect(summary.deleteRegistered?.message).toContain('registry e2e');
          expect(summary.deleteRegistered?.message).toMatch(/version 1\b/);
          expect(summary.deleteRegisteredFetched).toMatchObject({
            type: 'APIException',
            status: 400,
          });
          expect(summary.deleteRegisteredFetched?.message).toContain(uuidB);
          expect(summary.deleteRegisteredFetched?.message).toMatch(/version 2\b/);

          expect(summary.archived).toBe(true);
          expect(summary.registerWhileArchived).toMatchObject({
            type: 'APIException',
            status: 400,
          });
          expect(summary.registerWhileArchived?.message).toContain('archived');
          expect(summary.patchWhileArchived).toMatchObject({ type: 'APIException', status: 400 });
          // The SDK never filters on `archived`: archived models are listed.
          expect(summary.modelsWhileArchived).toEqual(['other model', 'registry e2e']);
          expect(summary.latestWhileArchived).toBe(2);
          expect(summary.unarchived).toBe(false);
          expect(summary.descriptionAfterArchive).toBe('second description');

          // The same checkpoint registers again; a deleted highest number is reused.
          expect(summary.v3).toEqual(version(3, uuidA, 10));
          expect(summary.getDeletedVersion).toMatchObject({
            type: 'NotFoundException',
            status: 404,
          });
          expect(summary.afterVersionDelete).toEqual([2, 1]);
          expect(summary.reRegistered).toBe(3);

          for (const gone of [
            summary.getDeletedByName,
            summary.getDeletedById,
            summary.versionOfDeleted,
          ]) {
            expect(gone).toMatchObject({ type: 'NotFoundException', status: 404 });
          }
          expect(summary.getDeletedByName?.message).toContain('registry e2e');
          expect(summary.modelsAfterDelete).toEqual([]);
          expect(summary.labelsAfterDelete).toEqual([]);
        }, 90_000);

        it.skipIf(cliMissing !== undefined)(
          'runs `det model` create, list, describe, register-version, list-versions, move and delete',
          async () => {
            const [uuidA, uuidB] = seeded.uuids;
            const det = (...argv: string[]): Promise<Run> =>
              // The built-in user's empty password, for the one prompt `det user login` shows.
              runPythonArgv(['-m', 'determined.cli', ...argv], env(), {
                timeoutMs: 60_000,
                input: '\n',
              });
            const ok = async (...argv: string[]): Promise<string> => {
              const run = await det(...argv);
              expect(run.code, `det ${argv.join(' ')}:\n${run.stderr}\n${run.stdout}`).toBe(0);
              return run.stdout;
            };
            const name = 'cli model';
            /** A version row of the CLI's table: version, trial, steps, uuid. */
            const row = (n: number, uuid: string, steps: number): RegExp =>
              new RegExp(
                `^\\s*${n}\\s*\\|\\s*${seeded.trialId}\\s*\\|\\s*${steps}\\s*\\|\\s*${uuid}\\b`,
                'm',
              );

            await ok('user', 'login', 'determined');
            const created = await ok('model', 'create', name, '--description', 'from the cli');
            expect(created).toContain(name);
            expect(created).toContain('from the cli');

            const registered = await ok('model', 'register-version', name, uuidA);
            expect(registered).toMatch(row(1, uuidA, 10));

            // --json posts to /api/v1/models/<id>/versions and prints the raw reply.
            const registeredJson = JSON.parse(
              await ok('model', 'register-version', name, uuidB, '--json'),
            ) as {
              modelVersion: {
                version: number;
                model: { name: string; id: number };
                checkpoint: { uuid: string };
              };
            };
            expect(registeredJson.modelVersion).toMatchObject({
              version: 2,
              model: { name },
              checkpoint: { uuid: uuidB },
            });
            const modelId = registeredJson.modelVersion.model.id;

            // The read-only commands, side by side (each is a Python start-up).
            const [listed, listedText, described, first, versions, versionsText] =
              await Promise.all([
                ok('model', 'list'),
                ok('model', 'list', '--json'),
                ok('model', 'describe', name),
                ok('model', 'describe', name, '--version', '1'),
                ok('model', 'list-versions', name),
                ok('model', 'list-versions', name, '--json'),
              ]);
            expect(listed).toMatch(
              new RegExp(`^\\s*${modelId}\\s*\\|\\s*${name}\\s*\\|\\s*1\\s*\\|`, 'm'),
            );
            const listedJson = JSON.parse(listedText) as {
              id: number;
              name: string;
              description: string;
              archived: boolean;
            }[];
            expect(listedJson.filter((m) => m.name === name)).toEqual([
              expect.objectContaining({
                id: modelId,
                name,
                description: 'from the cli',
                archived: false,
              }),
            ]);

            // Without --version: the latest version's row.
            expect(described).toContain('from the cli');
            expect(described).toMatch(row(2, uuidB, 20));
            expect(described).not.toContain(uuidA);
            expect(first).toMatch(row(1, uuidA, 10));
            expect(first).not.toContain(uuidB);

            // Newest first.
            expect(versions).toMatch(row(2, uuidB, 20));
            expect(versions).toMatch(row(1, uuidA, 10));
            expect(versions.indexOf(uuidB)).toBeLessThan(versions.indexOf(uuidA));
            // --json reads /api/v1/models/<id>/versions with no query: ascending.
            const versionsJson = JSON.parse(versionsText) as {
              model: { id: number; name: string; numVersions: number };
              modelVersions: { version: number; checkpoint: { uuid: string } }[];
              pagination: { total: number };
            };
            expect(versionsJson.model).toMatchObject({ id: modelId, name, numVersions: 2 });
            expect(versionsJson.modelVersions.map((v) => [v.version, v.checkpoint.uuid])).toEqual([
              [1, uuidA],
              [2, uuidB],
            ]);
            expect(versionsJson.pagination.total).toBe(2);

            // Our master has one workspace; any other is not found.
            const [, nowhere] = await Promise.all([
              ok('model', 'move', name, '-w', 'Uncategorized'),
              det('model', 'move', name, '-w', 'Nowhere'),
            ]);
            expect(nowhere.code).not.toBe(0);
            expect(nowhere.stderr + nowhere.stdout).toMatch(/not found/i);

            await ok('model', 'delete', name);
            const [gone, afterText] = await Promise.all([
              det('model', 'describe', name),
              ok('model', 'list', '--json'),
            ]);
            expect(gone.code).not.toBe(0);
            expect(gone.stderr + gone.stdout).toMatch(/not found/i);
            const after = JSON.parse(afterText) as { name: string }[];
            expect(after.map((m) => m.name)).not.toContain(name);
          },
          120_000,
        );
      });
    }
  },
);
