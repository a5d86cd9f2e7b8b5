import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { Capture, seedExperiment, startLoopbackMaster } from '../test/helpers.js';
import type { MasterTarget, SeededExperiment } from '../test/helpers.js';
import { detCommands } from './demo/next-steps.js';
import { main } from './main.js';

const BIN = resolve(import.meta.dirname, 'bin.ts');
// The repository root, where `--import tsx` resolves.
const ROOT = resolve(import.meta.dirname, '../../..');

let master: MasterTarget;
let seeded: SeededExperiment;
let configDir: string;

beforeAll(async () => {
  master = await startLoopbackMaster();
  seeded = await seedExperiment(master);
  configDir = await mkdtemp(join(tmpdir(), 'det-bin-'));
});

afterAll(async () => {
  await master.close();
  await rm(configDir, { recursive: true, force: true });
});

interface Exit {
  code: number | null;
  stdout: string;
  stderr: string;
}

function spawnDet(argv: string[]): Promise<Exit> {
  return collect(
    spawn(process.execPath, ['--import', 'tsx', '--conditions=source', BIN, ...argv], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, DET_DEBUG_CONFIG_PATH: configDir, DET_MASTER: master.baseUrl },
    }),
  );
}

/** `script` run by sh at the repository root, as a user types it into a terminal there. */
function shell(script: string): Promise<Exit> {
  return collect(
    spawn('sh', ['-c', script], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        DET_DEBUG_CONFIG_PATH: configDir,
        // npm's own notice of a newer npm is not ours to test.
        npm_config_update_notifier: 'false',
      },
    }),
  );
}

function collect(child: ReturnType<typeof spawn>): Promise<Exit> {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((done) => child.on('close', (code) => done({ code, stdout, stderr })));
}

describe('the det executable', () => {
  it('lists checkpoints from a master on loopback (DET_MASTER), as JSON', async () => {
    const run = await spawnDet([
      'experiment',
      'list-checkpoints',
      String(seeded.trial.experimentId),
      '--json',
    ]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const uuids = (JSON.parse(run.stdout) as { uuid: string }[]).map((c) => c.uuid);
    expect(uuids).toEqual(seeded.uuids);
  });

  it('exits 2 on a usage error', async () => {
    const run = await spawnDet(['trial', 'download', '1']);
    expect(run.code).toBe(2);
    expect(run.stderr).toBe('det: give exactly one of --best, --latest or --uuid UUID\n');
  });
});

describe('the commands the tour prints', () => {
  it('run as printed from the clone, built or not, with nothing on stderr (npm warns of nothing)', async () => {
    const [exportMaster = '', ...commands] = detCommands({
      master: master.baseUrl,
      experimentId: seeded.trial.experimentId,
      trialId: seeded.trial.trialId,
      bestUuid: seeded.uuids[0] ?? '',
    });
    expect(exportMaster).toBe(`export DET_MASTER=${master.baseUrl}`);
    for (const command of commands.filter((c) => /^npx det (experiment|trial describe)/.test(c))) {
      const run = await shell(`${exportMaster}\n${command}`);
      expect(run.stderr, command).toBe('');
      expect(run.code, command).toBe(0);
      expect(run.stdout, command).toContain(seeded.uuids[0]);
    }
  }, 60_000);
});

describe('det master', () => {
  it('serves the API until the signal aborts', async () => {
    const dataDir = join(configDir, 'master-data');
    const stdout = new Capture();
    const controller = new AbortController();
    const done = main(['master', '--port', '0', '--data-dir', dataDir], {
      stdout,
      stderr: new Capture(),
      env: {},
      cwd: configDir,
      signal: controller.signal,
    });
    await expect.poll(() => stdout.text, { timeout: 10_000 }).toMatch(/listening on/);
    const url = /listening on (\S+)/.exec(stdout.text)?.[1];
    const res = await fetch(`${url}/api/v1/master`);
    expect(res.status).toBe(200);
    expect(stdout.text).toContain(`data dir: ${dataDir}`);
    controller.abort();
    expect(await done).toBe(0);
    await expect(fetch(`${url}/api/v1/master`)).rejects.toThrow();
  });

  it('exits 2 on a bad master flag', async () => {
    const stderr = new Capture();
    const code = await main(['master', '--bogus'], {
      stdout: new Capture(),
      stderr,
      env: {},
      cwd: configDir,
    });
    expect(code).toBe(2);
    expect(stderr.text).toMatch(/^det: master: .*bogus.*\n$/);
  });
});
