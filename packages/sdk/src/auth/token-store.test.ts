import { execFile, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { tempDir } from '../../test/auth-helpers.js';
import { ArgumentError, AuthenticationError } from '../errors.js';
import { holdLock, withFileLock } from './file-lock.js';
import { TokenStore } from './token-store.js';
import {
  CorruptTokenStoreError,
  parseTokenStore,
  serializeTokenStore,
  toPythonJson,
} from './token-store-format.js';

const URL_A = 'http://localhost:8080';

/** auth.json exactly as Determined v0.38.1's TokenStore writes it (captured from Python). */
const PYTHON_V2 = `{
    "masters": {
        "http://localhost:8080": {
            "active_user": "bob",
            "tokens": {
                "alice": "tok-\\u00e4",
                "bob": "tok2"
            }
        }
    },
    "version": 2
}`;

/** What Python's first write to a fresh cache looks like: it says version 1. */
const PYTHON_FIRST_WRITE = `{
    "masters": {
        "http://localhost:8080": {
            "tokens": {
                "alice": "tok-\\u00e4"
            }
        }
    },
    "version": 1
}`;

describe('parseTokenStore', () => {
  it('reads a v2 file written by Python and writes the same bytes back', () => {
    const store = parseTokenStore(PYTHON_V2, URL_A);
    expect(store.masters[URL_A]).toEqual({
      active_user: 'bob',
      tokens: { alice: 'tok-ä', bob: 'tok2' },
    });
    expect(serializeTokenStore(store)).toBe(PYTHON_V2);
  });

  it("reads Python's first write, which is labelled version 1", () => {
    const store = parseTokenStore(PYTHON_FIRST_WRITE, URL_A);
    expect(store.version).toBe(2);
    expect(store.masters[URL_A]?.tokens).toEqual({ alice: 'tok-ä' });
  });

  it('migrates v0 (the seed format) to the master being asked about', () => {
    const v0 = JSON.stringify({ active_user: 'a', tokens: { a: 'ta', b: 'tb' } });
    const store = parseTokenStore(v0, 'https://det.example.com:443');
    expect(store.masters).toEqual({
      'https://det.example.com:443': { active_user: 'a', tokens: { a: 'ta', b: 'tb' } },
    });
    expect(parseTokenStore('{}', URL_A).masters).toEqual({ [URL_A]: { tokens: {} } });
  });

  it('migrates v1: canonical keys, merged tokens (later wins), the first active user', () => {
    const v1 = JSON.stringify({
      version: 1,
      masters: {
        'localhost:8080': { tokens: { a: 'old', b: 'tb' } },
        'http://localhost:8080/': { active_user: 'b', tokens: { a: 'new' } },
        'http://user:pw@localhost:8080?x=1#y': { active_user: 'c', tokens: { c: 'tc' } },
        'https://det.example.com/': { tokens: { d: 'td' } },
        'http://': { tokens: { lost: 'x' } },
        '[::1]:8080': { tokens: { v6: 'x' } },
      },
    });
    const store = parseTokenStore(v1, URL_A);
    expect(store.masters).toEqual({
      [URL_A]: { active_user: 'b', tokens: { a: 'new', b: 'tb', c: 'tc' } },
      'https://det.example.com:443': { tokens: { d: 'td' } },
    });
  });

  it.each([
    ['not JSON', '{"version": 2,'],
    ['an empty file', ''],
    ['an array', '[]'],
    ['a v0 file that says version 0', '{"version": 0, "tokens": {}}'],
    ['an unknown entry key', '{"version": 2, "masters": {"http://h:80": {"x": 1}}}'],
    [
      'a token that is not a string',
      '{"version": 2, "masters": {"http://h:80": {"tokens": {"a": 1}}}}',
    ],
    [
      'an active user that is not a string',
      '{"version": 2, "masters": {"http://h:80": {"active_user": 1}}}',
    ],
    ['masters that is not an object', '{"version": 2, "masters": []}'],
    ['a non-canonical v2 key', '{"version": 2, "masters": {"localhost:8080": {}}}'],
    ['an unknown version', '{"version": 3, "masters": {}}'],
    ['a version that is not a number', '{"version": "2", "masters": {}}'],
    ['extra keys beside version and masters', '{"version": 2, "masters": {}, "x": 1}'],
  ])('calls %s corrupt', (_what, text) => {
    expect(() => parseTokenStore(text, URL_A)).toThrow(CorruptTokenStoreError);
  });

  it('tolerates, and keeps, extra keys when masters is absent, as Python does', () => {
    const store = parseTokenStore('{"version": 2, "note": "kept"}', URL_A);
    expect(store.extra).toEqual({ note: 'kept' });
    expect(JSON.parse(serializeTokenStore(store))).toEqual({
      masters: {},
      note: 'kept',
      version: 2,
    });
  });

  it('gives exotic keys the benefit of the doubt rather than deleting the file', () => {
    const text = '{"version": 2, "masters": {"http://b\\u00fccher:8080/a b": {}}}';
    expect(Object.keys(parseTokenStore(text, URL_A).masters)).toEqual(['http://bücher:8080/a b']);
  });
});

describe('toPythonJson', () => {
  it("escapes like Python's ensure_ascii and sorts keys at every level", () => {
    const value = {
      version: 2,
      masters: {
        'https://b:443/x': {},
        [URL_A]: { tokens: { bob: 't\u007fä😀\n"\\', alice: 'a' }, active_user: 'bob' },
      },
    };
    // json.dumps(value, indent=4, sort_keys=True), captured from Python 3.11.
    expect(toPythonJson(value)).toBe(`{
    "masters": {
        "http://localhost:8080": {
            "active_user": "bob",
            "tokens": {
                "alice": "a",
                "bob": "t\\u007f\\u00e4\\ud83d\\ude00\\n\\"\\\\"
            }
        },
        "https://b:443/x": {}
    },
    "version": 2
}`);
  });
});

describe('TokenStore', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let config: string;
  beforeEach(async () => {
    dir = await tempDir();
    config = join(dir.path, 'determined');
  });
  afterEach(() => dir.cleanup());

  const authJson = (): string => join(config, 'auth.json');

  it('reads a missing file as empty, and creates nothing', async () => {
    const store = await TokenStore.open(URL_A, config);
    expect(store.activeUser).toBeUndefined();
    expect(store.users()).toEqual([]);
    expect(existsSync(config)).toBe(false);
  });

  it('refuses a master url that is not canonical', async () => {
    await expect(TokenStore.open('localhost:8080', config)).rejects.toThrow(/canonical/);
  });

  it('stores a token: 0700 dir, 0600 file, the lock file, no temp file left', async () => {
    const store = await TokenStore.open(URL_A, config);
    await store.setToken('alice', 'ta');
    expect(store.getToken('alice')).toBe('ta');
    expect((await stat(config)).mode & 0o777).toBe(0o700);
    expect((await stat(authJson())).mode & 0o777).toBe(0o600);
    expect((await readdir(config)).sort()).toEqual(['auth.json', 'auth.json.lock']);
    const text = await readFile(authJson(), 'utf8');
    expect(text).toBe(
      toPythonJson({ version: 2, masters: { [URL_A]: { tokens: { alice: 'ta' } } } }),
    );
    expect((await TokenStore.open(URL_A, config)).getToken('alice')).toBe('ta');
  });

  it('keeps other users, other masters and the active user when it writes', async () => {
    await mkdir(config, { recursive: true });
    await writeFile(
      authJson(),
      toPythonJson({
        version: 2,
        masters: {
          'http://other:8080': { active_user: 'x', tokens: { x: 'tx' } },
          [URL_A]: { active_user: 'bob', tokens: { bob: 'tb' } },
        },
      }),
    );
    const store = await TokenStore.open(URL_A, config);
    expect(store.activeUser).toBe('bob');
    await store.setToken('alice', 'ta');
    expect(JSON.parse(await readFile(authJson(), 'utf8'))).toEqual({
      version: 2,
      masters: {
        'http://other:8080': { active_user: 'x', tokens: { x: 'tx' } },
        [URL_A]: { active_user: 'bob', tokens: { alice: 'ta', bob: 'tb' } },
      },
    });
  });

  it('rewrites a v0 file as v2 on the first update', async () => {
    await mkdir(config, { recursive: true });
    await writeFile(authJson(), JSON.stringify({ active_user: 'a', tokens: { a: 'ta' } }));
    const store = await TokenStore.open(URL_A, config);
    expect(store.activeUser).toBe('a');
    await store.setToken('b', 'tb');
    expect(JSON.parse(await readFile(authJson(), 'utf8'))).toEqual({
      version: 2,
      masters: { [URL_A]: { active_user: 'a', tokens: { a: 'ta', b: 'tb' } } },
    });
  });

  it('deletes a corrupt file and says so; the next open starts afresh', async () => {
    await mkdir(config, { recursive: true });
    await writeFile(authJson(), '{"version": 2, "masters": {"localhost:8080": {}}}');
    const err = await TokenStore.open(URL_A, config).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuthenticationError);
    expect((err as Error).message).toMatch(/corrupt .* has been deleted/);
    expect(existsSync(authJson())).toBe(false);
    expect((await TokenStore.open(URL_A, config)).users()).toEqual([]);
  });

  it('drops a user, and sets and clears the active user', async () => {
    const store = await TokenStore.open(URL_A, config);
    await store.setToken('a', 'ta');
    await store.setToken('b', 'tb');
    await expect(store.setActive('nobody')).rejects.toThrow(AuthenticationError);
    await store.setActive('a');
    await store.dropUser('a');
    const reread = await TokenStore.open(URL_A, config);
    expect(reread.users()).toEqual(['b']);
    expect(reread.activeUser).toBe('a');
    await reread.clearActive();
    expect((await TokenStore.open(URL_A, config)).activeUser).toBeUndefined();
  });

  it('logs in and out as det user login/logout do, each in one locked update', async () => {
    const store = await TokenStore.open(URL_A, config);
    await store.setToken('a', 'ta', { activate: true });
    await store.setToken('b', 'tb');
    expect(store.activeUser).toBe('a');
    const reread = await TokenStore.open(URL_A, config);
    expect([reread.activeUser, reread.getToken('a'), reread.getToken('b')]).toEqual([
      'a',
      'ta',
      'tb',
    ]);
    // Logging out someone else leaves the active user; logging out the active user clears it.
    await store.dropUser('b', { deactivate: true });
    expect(store.activeUser).toBe('a');
    await store.dropUser('a', { deactivate: true });
    const after = await TokenStore.open(URL_A, config);
    expect([after.activeUser, after.users()]).toEqual([undefined, []]);
    expect(JSON.parse(await readFile(authJson(), 'utf8'))).toEqual({
      version: 2,
      masters: { [URL_A]: { tokens: {} } },
    });
  });

  it('loads the store of the master and config dir the environment names', async () => {
    const env = { DET_DEBUG_CONFIG_PATH: config, DET_MASTER: 'det.example.com' };
    const store = await TokenStore.load({ env });
    expect([store.masterUrl, store.path]).toEqual([
      'http://det.example.com:8080',
      join(config, 'auth.json'),
    ]);
    await store.setToken('a', 'ta');
    const other = await TokenStore.load({ env, master: 'https://det.example.com' });
    expect(other.masterUrl).toBe('https://det.example.com:443');
    expect(other.users()).toEqual([]);
    expect((await TokenStore.open('http://det.example.com:8080', config)).getToken('a')).toBe('ta');
  });

  it('refuses an empty user or token with an ArgumentError', async () => {
    const store = await TokenStore.open(URL_A, config);
    await expect(store.setToken('', 't')).rejects.toMatchObject({ rule: 'user' });
    await expect(store.setToken('a', '')).rejects.toBeInstanceOf(ArgumentError);
    await expect(TokenStore.open('localhost:8080', config)).rejects.toMatchObject({
      rule: 'master',
    });
    expect(existsSync(authJson())).toBe(false);
  });

  it('keeps IPv6 masters in memory only, since Determined would call the file corrupt', async () => {
    const store = await TokenStore.open('http://[::1]:8080', config);
    await store.setToken('a', 'ta');
    expect(store.getToken('a')).toBe('ta');
    expect(existsSync(authJson())).toBe(false);
  });

  it('loses no update among 40 parallel writers in one process', async () => {
    const stores = await Promise.all(
      Array.from({ length: 40 }, () => TokenStore.open(URL_A, config)),
    );
    await Promise.all(stores.map((s, i) => s.setToken(`u${i}`, `t${i}`)));
    const users = (await TokenStore.open(URL_A, config)).users();
    expect(users.sort()).toEqual(Array.from({ length: 40 }, (_, i) => `u${i}`).sort());
  });

  it('still writes, through a unique temp file, where neither flock nor perl exists', async () => {
    const writer = fileURLToPath(new URL('../../test/auth-writer.ts', import.meta.url));
    await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', '--conditions=source', writer, config, URL_A, 'n', '3'],
      { env: { PATH: join(dir.path, 'empty-path') } },
    );
    expect((await TokenStore.open(URL_A, config)).users()).toEqual(['n0', 'n1', 'n2']);
    // No helper ran, so no lock file was made; and no temp file is left behind.
    expect(await readdir(config)).toEqual(['auth.json']);
  }, 30_000);

  it('loses no update among three processes writing at once', async () => {
    const writer = fileURLToPath(new URL('../../test/auth-writer.ts', import.meta.url));
    const run = promisify(execFile);
    const child = (prefix: string): Promise<unknown> =>
      run(process.execPath, [
        '--import',
        'tsx',
        '--conditions=source',
        writer,
        config,
        URL_A,
        prefix,
        '15',
      ]);
    const ours = (async () => {
      for (let i = 0; i < 15; i += 1) {
        await (await TokenStore.open(URL_A, config)).setToken(`c${i}`, `token-c${i}`);
      }
    })();
    await Promise.all([child('a'), child('b'), ours]);
    const store = await TokenStore.open(URL_A, config);
    expect(store.users()).toHaveLength(45);
    for (const prefix of ['a', 'b', 'c']) {
      expect(store.getToken(`${prefix}14`)).toBe(`token-${prefix}14`);
    }
  }, 60_000);
});

const hasFlock = spawnSync('flock', ['--version'], { stdio: 'ignore' }).status === 0;
const hasPerl = spawnSync('perl', ['-MFcntl=:flock', '-e', '1'], { stdio: 'ignore' }).status === 0;
const PYTHON = '/usr/bin/python3';
const hasPythonFilelock =
  existsSync(PYTHON) && spawnSync(PYTHON, ['-c', 'import filelock']).status === 0;

/** Whether someone else can take the flock right now (flock -n exits 1 when it is held). */
function isFree(lockPath: string): boolean {
  return spawnSync('flock', ['--nonblock', lockPath, 'true']).status === 0;
}

/** Whether Python's filelock, as Determined uses it, can take the lock right now. */
function isFreeForPython(lockPath: string): boolean {
  const probe = spawnSync(PYTHON, [
    '-c',
    'import sys, filelock\n' +
      'try:\n' +
      '    lock = filelock.FileLock(sys.argv[1])\n' +
      '    lock.acquire(timeout=0)\n' +
      '    lock.release()\n' +
      'except filelock.Timeout:\n' +
      '    sys.exit(3)\n',
    lockPath,
  ]);
  if (probe.status !== 0 && probe.status !== 3) {
    throw new Error(probe.stderr.toString());
  }
  return probe.status === 0;
}

describe('withFileLock', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  beforeEach(async () => {
    dir = await tempDir();
  });
  afterEach(() => dir.cleanup());

  it.skipIf(!hasFlock)('holds an flock(2) that others see, and releases it', async () => {
    const lock = join(dir.path, 'auth.json.lock');
    const kind = await withFileLock(lock, (k) => {
      expect(isFree(lock)).toBe(false);
      return Promise.resolve(k);
    });
    expect(kind).toBe('flock');
    expect(isFree(lock)).toBe(true);
  });

  it.skipIf(!hasFlock || !hasPerl)('takes the same lock through perl', async () => {
    const lock = join(dir.path, 'auth.json.lock');
    const release = await holdLock('perl', lock);
    expect(release).toBeDefined();
    expect(isFree(lock)).toBe(false);
    await release?.();
    expect(isFree(lock)).toBe(true);
  });

  it.skipIf(!hasPythonFilelock)("excludes Python's filelock, as Determined takes it", async () => {
    const lock = join(dir.path, 'auth.json.lock');
    await withFileLock(lock, () => {
      expect(isFreeForPython(lock)).toBe(false);
      return Promise.resolve();
    });
    expect(isFreeForPython(lock)).toBe(true);
  });

  it('runs the next update after a failed one', async () => {
    const lock = join(dir.path, 'auth.json.lock');
    const failed = withFileLock(lock, () => Promise.reject(new Error('boom')));
    const next = withFileLock(lock, () => Promise.resolve('ran'));
    await expect(failed).rejects.toThrow('boom');
    await expect(next).resolves.toBe('ran');
  });
});
