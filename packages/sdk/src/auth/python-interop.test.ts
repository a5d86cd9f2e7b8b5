// Determined's own Python SDK (v0.38.1) and this SDK share one token cache: each reuses the
// session the other cached, and both write the file at once without losing an update. Runs
// against the real master over loopback; skipped (saying why) when Python or the harness is absent.
import { execFile, spawn } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { loadConfig, silentLogger, startMaster } from '@determined-ts/master';
import type { RunningMaster } from '@determined-ts/master';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { PYTHON, findPythonSdk, harnessDir } from '../../../../test/python-harness.js';
import { tempDir } from '../../test/auth-helpers.js';
import type { FetchLike } from '../client.js';
import { openSession } from './session.js';
import { TokenStore } from './token-store.js';

const run = promisify(execFile);

/**
 * Python, as a user's script: logs in with `determined.experimental.client.login` (which goes
 * through `login_with_cache`) and prints the session's user and token; or, with `write`, stores
 * tokens through Determined's TokenStore one locked update at a time.
 */
const SCRIPT = `
import sys
mode, master = sys.argv[1], sys.argv[2]
if mode == "login":
    from determined.experimental import client
    user = sys.argv[3] if len(sys.argv) > 3 else None
    client.login(master=master, user=user, password="" if user else None)
    session = client._determined._session
    print(session.username, session.token)
else:
    from determined.common.api import authentication
    prefix, count = sys.argv[3], int(sys.argv[4])
    print("ready", flush=True)
    sys.stdin.readline()
    for i in range(count):
        authentication.TokenStore(master).set_token(f"{prefix}{i}", f"token-{prefix}{i}")
`;

const { source, missing } = findPythonSdk();
if (missing !== undefined) {
  process.stderr.write(`python-interop.test.ts skipped: ${missing}\n`);
}

describe.skipIf(missing !== undefined)(
  "the token cache shared with Determined's Python SDK",
  () => {
    let dir: { path: string; cleanup: () => Promise<void> };
    let harness = '';
    let master: RunningMaster;
    let config = '';
    let configs = 0;
    const logins: string[] = [];
    const counting: FetchLike = (input, init) => {
      if (new URL(input).pathname === '/api/v1/auth/login') {
        logins.push(input);
      }
      return globalThis.fetch(input, init);
    };

    beforeAll(async () => {
      dir = await tempDir();
      if (source === undefined) {
        throw new Error('no harness source');
      }
      harness = await harnessDir(source, dir.path);
      const masterConfig = loadConfig(
        ['--host', '127.0.0.1', '--port', '0', '--data-dir', join(dir.path, 'master')],
        {},
      );
      if (masterConfig === 'help') {
        throw new Error('unexpected help');
      }
      master = await startMaster(masterConfig, silentLogger);
    });
    afterAll(async () => {
      await master.close();
      await dir.cleanup();
    });
    beforeEach(() => {
      config = join(dir.path, `config-${(configs += 1)}`);
      logins.length = 0;
    });

    const pythonEnv = (): NodeJS.ProcessEnv => ({
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: join(dir.path, 'home'),
      LANG: 'C.UTF-8',
      PYTHONPATH: harness,
      PYTHONDONTWRITEBYTECODE: '1',
      DET_DEBUG_CONFIG_PATH: config,
    });
    const python = async (...args: string[]): Promise<string> => {
      const { stdout } = await run(PYTHON, ['-c', SCRIPT, ...args], { env: pythonEnv() });
      return stdout.trim();
    };
    const ours = (user?: string) =>
      openSession({
        master: master.url,
        user,
        fetch: counting,
        env: { DET_DEBUG_CONFIG_PATH: config },
      });

    it('Python reuses the session this SDK cached', async () => {
      const client = await ours();
      expect(logins).toHaveLength(1);
      expect(await python('login', master.url)).toBe(`determined ${client.token}`);
    });

    it('this SDK reuses the session Python cached, with no login', async () => {
      const [user, token] = (await python('login', master.url, 'admin')).split(' ');
      expect(user).toBe('admin');
      const client = await ours('admin');
      expect(client.token).toBe(token);
      expect(logins).toEqual([]);
    });

    it('loses no update when both write the cache at once', async () => {
      const count = 30;
      const writer = spawn(PYTHON, ['-c', SCRIPT, 'write', master.url, 'py', String(count)], {
        env: pythonEnv(),
        stdio: ['pipe', 'pipe', 'inherit'],
      });
      const exited = new Promise<number | null>((resolve) => writer.once('close', resolve));
      // Python imports first (~0.4 s); both start writing together once it is ready.
      await new Promise((resolve) => writer.stdout.once('data', resolve));
      writer.stdin.end('go\n');
      for (let i = 0; i < count; i += 1) {
        await (await TokenStore.open(master.url, config)).setToken(`ts${i}`, `token-ts${i}`);
      }
      expect(await exited).toBe(0);
      const store = await TokenStore.open(master.url, config);
      expect(store.users()).toHaveLength(2 * count);
      expect(store.getToken(`py${count - 1}`)).toBe(`token-py${count - 1}`);
      expect(store.getToken(`ts${count - 1}`)).toBe(`token-ts${count - 1}`);
    }, 60_000);
  },
);
