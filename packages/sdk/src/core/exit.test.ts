// How a trial ends: `run(fn)` in-process, and whole Node processes (against a loopback master)
// that throw, reject, get a signal or just end without `close()`.
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { getTrial } from '../api/trials.js';
import { openSession } from '../auth/session.js';
import type { Client } from '../client.js';
import { ApiError } from '../errors.js';
import { inProcessMaster, loopbackMaster } from '../../test/core-helpers.js';
import type { TestMaster } from '../../test/core-helpers.js';
import { init } from './init.js';
import type { CoreInitOptions } from './init.js';

interface TrialLogDto {
  log: string;
  stdtype?: string;
}

async function trialLogs(client: Client, trialId: number): Promise<string[]> {
  const lines: string[] = [];
  for await (const entry of client.stream<TrialLogDto>(`/api/v1/trials/${trialId}/logs`)) {
    lines.push(entry.log);
  }
  return lines;
}

describe('CoreContext.run', () => {
  let m: TestMaster;
  beforeEach(async () => {
    m = await inProcessMaster();
  });
  afterEach(async () => {
    await m.close();
  });

  const options = (): CoreInitOptions => ({
    master: m.url,
    fetch: m.fetch,
    env: m.env,
    shipOutput: false,
    closeOnExit: false,
    config: { searcher: { metric: 'loss' }, checkpoint_storage: join(m.dir, 'ckpts') },
  });

  it("closes COMPLETED when fn succeeds, and returns fn's value", async () => {
    const core = await init(options());
    const value = await core.run(async (c) => {
      await c.train.reportTrainingMetrics(1, { loss: 1 });
      return 42;
    });
    expect(value).toBe(42);
    expect((await getTrial(core.client, core.info.trialId)).state).toBe('COMPLETED');
    expect(() => core.train.reportTrainingMetrics(2, { loss: 1 })).toThrow(/closed/);
  });

  it('closes ERROR when fn throws, rethrows that very error, and logs it', async () => {
    const core = await init(options());
    const boom = new Error('boom in training');
    const thrown = await core
      .run(async () => {
        await core.train.reportTrainingMetrics(1, { loss: 1 });
        throw boom;
      })
      .catch((e: unknown) => e);
    expect(thrown).toBe(boom);
    expect((await getTrial(core.client, core.info.trialId)).state).toBe('ERROR');
    const logs = await trialLogs(core.client, core.info.trialId);
    expect(logs[0]).toMatch(/^the trial failed: Error: boom in training\n$/);
    expect(logs.slice(1).join('')).toContain('exit.test.ts');
  });

  it('closes ERROR on a synchronous throw and a rejected non-Error', async () => {
    const sync = await init(options());
    await expect(
      sync.run(() => {
        throw new RangeError('sync');
      }),
    ).rejects.toBeInstanceOf(RangeError);
    expect((await getTrial(sync.client, sync.info.trialId)).state).toBe('ERROR');

    const reason = await init(options());
    await expect(reason.run(() => Promise.reject(new Error('x')))).rejects.toThrow('x');
    const preempted = await init(options());
    // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- the case under test
    await expect(preempted.run(() => Promise.reject('preempted'))).rejects.toBe('preempted');
    expect((await getTrial(preempted.client, preempted.info.trialId)).state).toBe('ERROR');
    expect(await trialLogs(preempted.client, preempted.info.trialId)).toEqual([
      'the trial failed: preempted\n',
    ]);
  });

  it('throws the failed report when fn succeeded but a report did not', async () => {
    const core = await init(options());
    const err = await core
      .run(() => {
        void core.train.reportMetrics('training', 1, { a: 1 });
        void core.train.reportMetrics('training', 1, { a: 2 });
      })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((await getTrial(core.client, core.info.trialId)).state).toBe('ERROR');
  });
});

const INIT_MODULE = pathToFileURL(fileURLToPath(new URL('./init.ts', import.meta.url))).href;
const REPO_ROOT = fileURLToPath(new URL('../../../../', import.meta.url));

/** A training script; argv[2] picks how it ends. It prints its trial id first. */
const SCRIPT = `
import { init } from ${JSON.stringify(INIT_MODULE)};
const core = await init({
  master: process.env.TEST_MASTER,
  config: { searcher: { metric: 'loss' }, checkpoint_storage: process.env.TEST_STORAGE },
});
process.stdout.write(JSON.stringify({ trialId: core.info.trialId }) + '\\n');
console.log('hello from the training script');
await core.train.reportTrainingMetrics(1, { loss: 0.5 });
switch (process.argv[2]) {
  case 'throw':
    setTimeout(() => { throw new Error('boom-uncaught'); }, 1);
    break;
  case 'reject':
    void Promise.reject(new Error('boom-rejected'));
    break;
  case 'exit-code':
    process.exitCode = 3;
    break;
  case 'signal':
    setInterval(() => undefined, 1000);
    console.log('ready');
    break;
  case 'end':
    break;
  default:
    throw new Error('unknown mode ' + process.argv[2]);
}
`;

interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  trialId: number;
}

/** Runs the script in a fresh Node process, as a user would (`node --import tsx`). */
function runScript(m: TestMaster, script: string, mode: string): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--conditions=source', '--import', 'tsx', script, mode],
      {
        cwd: REPO_ROOT,
        env: {
          PATH: process.env.PATH,
          HOME: m.dir,
          ...m.env,
          TEST_MASTER: m.url,
          TEST_STORAGE: join(m.dir, 'ckpts'),
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      if (mode === 'signal' && stdout.includes('ready\n')) {
        child.kill('SIGTERM');
      }
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.once('error', reject);
    child.once('close', (code, signal) => {
      const first = stdout.split('\n')[0] ?? '';
      try {
        const { trialId } = JSON.parse(first) as { trialId: number };
        resolve({ code, signal, stdout, stderr, trialId });
      } catch {
        reject(new Error(`the script printed no trial id (exit ${code}): ${stdout}\n${stderr}`));
      }
    });
  });
}

describe('closeOnExit (a real Node process)', () => {
  let m: TestMaster;
  let client: Client;
  const results = new Map<string, ChildResult>();

  beforeAll(async () => {
    m = await loopbackMaster();
    const script = join(m.dir, 'train.mts');
    await writeFile(script, SCRIPT);
    // In parallel: each process spends most of its time starting up.
    const modes = ['throw', 'reject', 'signal', 'end', 'exit-code'];
    const done = await Promise.all(modes.map((mode) => runScript(m, script, mode)));
    modes.forEach((mode, i) => results.set(mode, done[i] as ChildResult));
    client = await openSession({ master: m.url, env: m.env });
  }, 60_000);
  afterAll(async () => {
    await m.close();
  });

  const result = (mode: string): ChildResult => {
    const r = results.get(mode);
    if (r === undefined) {
      throw new Error(`no result for ${mode}`);
    }
    return r;
  };
  const stateOf = async (r: ChildResult): Promise<string> =>
    (await getTrial(client, r.trialId)).state;

  it('an uncaught exception: printed, exit code 1, trial ERROR, error in the logs', async () => {
    const r = result('throw');
    expect([r.code, r.signal]).toEqual([1, null]);
    expect(r.stderr).toContain('Error: boom-uncaught');
    expect(await stateOf(r)).toBe('ERROR');
    const logs = (await trialLogs(client, r.trialId)).join('');
    expect(logs).toContain('hello from the training script\n');
    expect(logs).toContain('Error: boom-uncaught\n');
  });

  it('an unhandled rejection: exit code 1, trial ERROR', async () => {
    const r = result('reject');
    expect([r.code, r.signal]).toEqual([1, null]);
    expect(r.stderr).toContain('Error: boom-rejected');
    expect(await stateOf(r)).toBe('ERROR');
    expect((await trialLogs(client, r.trialId)).join('')).toContain('Error: boom-rejected');
  });

  it('SIGTERM: trial ERROR, then the process dies of the signal', async () => {
    const r = result('signal');
    expect([r.code, r.signal]).toEqual([null, 'SIGTERM']);
    expect(await stateOf(r)).toBe('ERROR');
    const logs = await trialLogs(client, r.trialId);
    expect(logs).toContain('ready\n');
    expect(logs).toContain('the trial failed: interrupted by SIGTERM\n');
  });

  it('a script that ends without close(): trial COMPLETED, logs shipped, exit code 0', async () => {
    const r = result('end');
    expect([r.code, r.signal, r.stderr]).toEqual([0, null, '']);
    expect(r.stdout).toContain('hello from the training script\n');
    expect(await stateOf(r)).toBe('COMPLETED');
    expect(await trialLogs(client, r.trialId)).toEqual([
      `{"trialId":${r.trialId}}\n`,
      'hello from the training script\n',
    ]);
  });

  it('a script that ends with a non-zero exitCode: trial ERROR, same exit code', async () => {
    const r = result('exit-code');
    expect([r.code, r.signal]).toEqual([3, null]);
    expect(await stateOf(r)).toBe('ERROR');
    expect(await trialLogs(client, r.trialId)).toContain(
      'the trial failed: the process is exiting with code 3\n',
    );
  });
});
