import { spawn } from 'node:child_process';
import { mkdir, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';

import { afterEach, describe, expect, it } from 'vitest';

import { tempDir } from '../test/helpers.js';
import { DEFAULT_MAX_BODY_BYTES, defaultWebRoot, loadConfig } from './config.js';
import type { MasterConfig } from './config.js';
import { ConfigError } from './errors.js';
import { silentLogger } from './logger.js';
import { isLoopback, startMaster } from './server.js';
import { storageLabel } from './storage-label.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) {
    await cleanup();
  }
});

async function dir(): Promise<string> {
  const d = await tempDir();
  cleanups.push(d.cleanup);
  return d.path;
}

const MAIN = resolve(import.meta.dirname, 'main.ts');
// The repository root, where `--import tsx` resolves.
const ROOT = resolve(import.meta.dirname, '../../..');

/** Runs det-master from the sources, with nothing of this process's environment but PATH. */
function runMaster(
  argv: string[],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', '--conditions=source', MAIN, ...argv], {
    cwd: ROOT,
    env: { PATH: process.env.PATH },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((done) => child.on('close', (code) => done({ code, stdout, stderr })));
}

function configOf(result: MasterConfig | 'help'): MasterConfig {
  if (result === 'help') {
    throw new Error('unexpected help');
  }
  return result;
}

describe('loadConfig', () => {
  it('takes flags over env over master.yaml over defaults', async () => {
    const d = await dir();
    const file = join(d, 'master.yaml');
    await writeFile(file, 'port: 9001\nhost: 127.0.0.2\ncluster_name: lab\ndb: /from/file.db\n');
    const fromFile = configOf(loadConfig(['--config', file, '--data-dir', d], {}));
    expect(fromFile).toMatchObject({
      port: 9001,
      host: '127.0.0.2',
      clusterName: 'lab',
      db: '/from/file.db',
    });
    const fromEnv = configOf(
      loadConfig(['--config', file, '--data-dir', d], { DET_PORT: '9002', DET_DB: '/env.db' }),
    );
    expect(fromEnv).toMatchObject({ port: 9002, db: '/env.db', host: '127.0.0.2' });
    const fromFlag = configOf(
      loadConfig(['--config', file, '--data-dir', d, '--port', '9003'], { DET_PORT: '9002' }),
    );
    expect(fromFlag.port).toBe(9003);
  });

  it('defaults to loopback, port 8080, SQLite in the data dir and directory storage', async () => {
    const d = await dir();
    const config = configOf(loadConfig(['--data-dir', d], {}));
    expect(config).toMatchObject({
      host: '127.0.0.1',
      port: 8080,
      db: join(d, 'master.db'),
      allowEmptyPasswords: false,
      maxBodyBytes: DEFAULT_MAX_BODY_BYTES,
      checkpointStorage: { type: 'directory', container_path: join(d, 'checkpoints') },
    });
  });

  it('bounds connections by default: header, request, keep-alive, idle and shutdown times, and a per-address cap', async () => {
    const d = await dir();
    expect(configOf(loadConfig(['--data-dir', d], {}))).toMatchObject({
      headersTimeoutMs: 20_000,
      requestTimeoutMs: 300_000,
      keepAliveTimeoutMs: 5_000,
      idleTimeoutMs: 60_000,
      shutdownTimeoutMs: 10_000,
      maxConnectionsPerAddress: 256,
    });
  });

  it('takes the connection limits from flags, DET_ env vars and master.yaml, in that order', async () => {
    const d = await dir();
    const file = join(d, 'master.yaml');
    await writeFile(
      file,
      'headers_timeout_ms: 1000\nshutdown_timeout_ms: 2000\nmax_connections_per_address: 3\n',
    );
    const config = configOf(
      loadConfig(['--data-dir', d, '--config', file, '--headers-timeout-ms', '500'], {
        DET_HEADERS_TIMEOUT_MS: '700',
        DET_SHUTDOWN_TIMEOUT_MS: '0',
        DET_IDLE_TIMEOUT_MS: '0',
      }),
    );
    expect(config).toMatchObject({
      headersTimeoutMs: 500,
      shutdownTimeoutMs: 0,
      idleTimeoutMs: 0,
      maxConnectionsPerAddress: 3,
      keepAliveTimeoutMs: 5_000,
    });
  });

  it('rejects connection limits that are not whole numbers, or a header bound past the request bound', async () => {
    const d = await dir();
    const file = join(d, 'master.yaml');
    await writeFile(file, 'headers_timeout_ms: 0\n');
    const problems = (argv: string[], env: NodeJS.ProcessEnv = {}): string[] => {
      try {
        loadConfig(['--data-dir', d, ...argv], env);
      } catch (err: unknown) {
        return (err as ConfigError).problems;
      }
      return [];
    };
    expect(
      problems(['--idle-timeout-ms', '1.5', '--max-connections-per-address=-1'], {
        DET_SHUTDOWN_TIMEOUT_MS: 'soon',
      }),
    ).toEqual([
      "idle_timeout_ms: expected an integer ≥ 0, got '1.5'",
      "shutdown_timeout_ms: expected an integer ≥ 0, got 'soon'",
      "max_connections_per_address: expected an integer ≥ 0, got '-1'",
    ]);
    expect(problems(['--config', file])).toEqual([
      expect.stringContaining('headers_timeout_ms') as string,
    ]);
    expect(problems(['--headers-timeout-ms', '0'])).toEqual([
      "headers_timeout_ms: expected an integer ≥ 1, got '0'",
    ]);
    expect(problems(['--headers-timeout-ms', '9000', '--request-timeout-ms', '8000'])).toEqual([
      'headers_timeout_ms (9000) must not exceed request_timeout_ms (8000)',
    ]);
    // A request bound of 0 is none: any header bound fits under it.
    expect(problems(['--headers-timeout-ms', '9000', '--request-timeout-ms', '0'])).toEqual([]);
  });

  it('reports every problem at once', async () => {
    const d = await dir();
    const file = join(d, 'master.yaml');
    await writeFile(file, 'port: "x"\nunknown_key: 1\n');
    let error: unknown;
    try {
      loadConfig(['--config', file, '--port', '70000'], {});
    } catch (err: unknown) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems.join('\n');
    expect(problems).toContain('master.yaml');
    expect(problems).toContain('unknown_key');
    expect(problems).toContain("port: expected an integer from 0 to 65535, got '70000'");
  });

  it('takes the web root from --web-root, DET_WEB_ROOT, web_root, else the web package', async () => {
    const d = await dir();
    const file = join(d, 'master.yaml');
    await writeFile(file, 'web_root: from-file\n');
    const webRoot = (argv: string[], env: NodeJS.ProcessEnv = {}) =>
      configOf(loadConfig(['--data-dir', d, ...argv], env)).webRoot;
    expect(webRoot(['--config', file])).toBe(resolve('from-file'));
    expect(webRoot(['--config', file], { DET_WEB_ROOT: '/env/ui' })).toBe('/env/ui');
    expect(webRoot(['--config', file, '--web-root', '/flag/ui'], { DET_WEB_ROOT: '/env/ui' })).toBe(
      '/flag/ui',
    );
    // The default: the dist/ of @determined-ts/web when it is installed beside the master.
    expect(webRoot([])).toBe(defaultWebRoot());
    const found = defaultWebRoot();
    if (found !== undefined) {
      expect(found).toMatch(/[/\\]web[/\\]dist$/);
    }
    expect(() => loadConfig(['--web-root', ''], {})).toThrow(/web root: must not be empty/);
  });

  it('hands the AWS region and GCS and Azure settings, and only those, from the environment to the storage package', async () => {
    const d = await dir();
    const env = {
      AWS_REGION: 'eu-west-1',
      AWS_SECRET_ACCESS_KEY: 'not for the master',
      GOOGLE_APPLICATION_CREDENTIALS: '/etc/gcs.json',
      STORAGE_EMULATOR_HOST: 'http://127.0.0.1:4443',
      AZURE_STORAGE_CONNECTION_STRING: 'AccountName=a;AccountKey=b',
      AZURE_STORAGE_KEY: 'not read',
    };
    expect(configOf(loadConfig(['--data-dir', d], env)).storageEnv).toEqual({
      AWS_REGION: 'eu-west-1',
      GOOGLE_APPLICATION_CREDENTIALS: '/etc/gcs.json',
      STORAGE_EMULATOR_HOST: 'http://127.0.0.1:4443',
      AZURE_STORAGE_CONNECTION_STRING: 'AccountName=a;AccountKey=b',
    });
    expect(
      configOf(loadConfig(['--data-dir', d], { AWS_DEFAULT_REGION: 'ap-south-1' })).storageEnv,
    ).toEqual({ AWS_DEFAULT_REGION: 'ap-south-1' });
  });

  it('takes the default checkpoint storage from --checkpoint-storage and DET_CHECKPOINT_STORAGE', async () => {
    const d = await dir();
    const file = join(d, 'master.yaml');
    await writeFile(file, 'checkpoint_storage: {type: directory, container_path: /from/file}\n');
    const storage = (argv: string[], env: NodeJS.ProcessEnv = {}) =>
      configOf(loadConfig(['--data-dir', d, '--config', file, ...argv], env)).checkpointStorage;
    expect(storage([])).toEqual({ type: 'directory', container_path: '/from/file' });
    // A shortcut, as Determined's Core API takes them.
    expect(storage(['--checkpoint-storage', 's3://ckpts/team/a'])).toEqual({
      type: 's3',
      bucket: 'ckpts',
      prefix: 'team/a',
    });
    expect(storage([], { DET_CHECKPOINT_STORAGE: '/env/ckpts' })).toEqual({
      type: 'directory',
      container_path: '/env/ckpts',
    });
    // A YAML mapping, for what a shortcut cannot say; the flag wins over the env.
    expect(
      storage(
        ['--checkpoint-storage', '{type: s3, bucket: b, endpoint_url: "http://127.0.0.1:9000"}'],
        {
          DET_CHECKPOINT_STORAGE: '/env/ckpts',
        },
      ),
    ).toEqual({ type: 's3', bucket: 'b', endpoint_url: 'http://127.0.0.1:9000' });
    expect(() => loadConfig(['--checkpoint-storage', 'ftp://x'], {})).toThrow(
      /checkpoint storage: malformed checkpoint_storage "ftp:\/\/x"/,
    );
    expect(() => loadConfig(['--checkpoint-storage', '{ [1, 2'], {})).toThrow(
      /checkpoint storage:/,
    );
  });

  it('names the default checkpoint storage as it starts, never its credentials', () => {
    expect(
      storageLabel({
        type: 's3',
        bucket: 'b',
        prefix: '/runs/',
        endpoint_url: 'http://127.0.0.1:9000',
        access_key: 'AK',
        secret_key: 'SECRET',
      }),
    ).toBe('s3://b/runs at http://127.0.0.1:9000');
    expect(storageLabel({ type: 's3', bucket: 'b' })).toBe('s3://b');
    expect(storageLabel({ type: 'directory', container_path: '/data/ckpts' })).toBe('/data/ckpts');
    expect(storageLabel({ type: 'shared_fs', host_path: '/mnt', storage_path: 'c' })).toBe(
      '/mnt/c',
    );
  });

  it('takes trusted proxies from --trusted-proxies, DET_TRUSTED_PROXIES and master.yaml, refusing bad entries', async () => {
    const d = await dir();
    const file = join(d, 'master.yaml');
    await writeFile(file, 'trusted_proxies: [10.0.0.0/8]\n');
    const proxies = (argv: string[], env: NodeJS.ProcessEnv = {}) =>
      configOf(loadConfig(['--data-dir', d, ...argv], env)).trustedProxies;
    expect(proxies([])).toEqual([]);
    expect(proxies(['--config', file])).toEqual(['10.0.0.0/8']);
    expect(proxies(['--config', file], { DET_TRUSTED_PROXIES: '127.0.0.1, ::1' })).toEqual([
      '127.0.0.1',
      '::1',
    ]);
    expect(proxies(['--trusted-proxies', '192.0.2.0/24'], { DET_TRUSTED_PROXIES: '::1' })).toEqual([
      '192.0.2.0/24',
    ]);
    expect(() => loadConfig(['--data-dir', d, '--trusted-proxies', 'lb.internal'], {})).toThrow(
      "trusted proxies: not an IP address or CIDR range: 'lb.internal'",
    );
  });

  it('rejects unknown flags', () => {
    expect(() => loadConfig(['--nope'], {})).toThrow(/Unknown option '--nope'/);
  });
});

describe('startMaster', () => {
  it('serves the API over loopback and keeps its data across restarts', async () => {
    const d = await dir();
    const config = configOf(loadConfig(['--port', '0', '--data-dir', d], {}));
    const first = await startMaster(config, silentLogger);
    const login = await fetch(`${first.url}/api/v1/auth/login`, {
      method: 'POST',
      body: JSON.stringify({ username: 'admin', password: '' }),
    });
    const { token } = (await login.json()) as { token: string };
    const info = (await (await fetch(`${first.url}/api/v1/master`)).json()) as {
      clusterId: string;
    };
    await first.close();

    const second = await startMaster(config, silentLogger);
    cleanups.push(() => second.close());
    const me = await fetch(`${second.url}/api/v1/me`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(me.status).toBe(200);
    const again = (await (await fetch(`${second.url}/api/v1/master`)).json()) as {
      clusterId: string;
    };
    expect(again.clusterId).toBe(info.clusterId);
  });

  it('is ready at once on a fresh data dir: it creates its own checkpoint directory, not a configured one', async () => {
    const d = await dir();
    const own = await startMaster(
      configOf(loadConfig(['--port', '0', '--data-dir', d], {})),
      silentLogger,
    );
    cleanups.push(() => own.close());
    expect((await fetch(`${own.url}/ready`)).status).toBe(200);
    expect((await stat(join(d, 'checkpoints'))).isDirectory()).toBe(true);

    // A root the operator names is theirs: missing, it is storage not mounted here.
    const e = await dir();
    const mounted = join(e, 'mnt', 'checkpoints');
    const other = await startMaster(
      configOf(loadConfig(['--port', '0', '--data-dir', e, '--checkpoint-storage', mounted], {})),
      silentLogger,
    );
    cleanups.push(() => other.close());
    const ready = await fetch(`${other.url}/ready`);
    expect(ready.status).toBe(503);
    expect(await ready.text()).toContain(mounted);
  });

  it('finishes at start the checkpoint deletions a stopped master left half-done', async () => {
    const d = await dir();
    const config = configOf(loadConfig(['--port', '0', '--data-dir', d], {}));
    const storage = String(config.checkpointStorage.container_path);
    const first = await startMaster(config, silentLogger);
    const api = async (
      url: string,
      token: string,
      method: string,
      path: string,
      body?: unknown,
    ) => {
      const res = await fetch(`${url}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}` },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      expect(res.status, `${method} ${path}: ${await res.clone().text()}`).toBe(200);
      return (await res.json()) as Record<string, { id: number; taskId: string; state: string }>;
    };
    const login = await fetch(`${first.url}/api/v1/auth/login`, {
      method: 'POST',
      body: JSON.stringify({ username: 'determined', password: '' }),
    });
    const { token } = (await login.json()) as { token: string };
    const { experiment } = await api(first.url, token, 'POST', '/api/v1/experiments', {
      config: '{name: resume}',
      unmanaged: true,
    });
    const { trial } = await api(first.url, token, 'POST', '/api/v1/trials', {
      experimentId: experiment!.id,
      unmanaged: true,
    });
    await api(first.url, token, 'POST', `/api/v1/trials/${trial!.id}/start`, { resume: false });
    const uuid = '00000000-0000-4000-8000-00000000d001';
    await mkdir(join(storage, uuid), { recursive: true });
    await writeFile(join(storage, uuid, 'model.bin'), Buffer.alloc(64));
    await api(first.url, token, 'POST', '/api/v1/checkpoints', {
      uuid,
      taskId: trial!.taskId,
      state: 'STATE_COMPLETED',
      resources: { 'model.bin': '64' },
      metadata: { steps_completed: 1 },
    });
    // What a master killed between recording the intent and marking the checkpoint leaves.
    const { id } = await first.db.kysely
      .selectFrom('checkpoints')
      .select('id')
      .where('uuid', '=', uuid)
      .executeTakeFirstOrThrow();
    await first.db.kysely
      .insertInto('checkpoint_deletions')
      .values({ checkpoint_id: id, requested_at: Date.now(), reason: 'test' })
      .execute();
    await first.close();

    const second = await startMaster(config, silentLogger);
    cleanups.push(() => second.close());
    let state = '';
    for (let i = 0; i < 200 && state !== 'STATE_DELETED'; i++) {
      const { checkpoint } = await api(second.url, token, 'GET', `/api/v1/checkpoints/${uuid}`);
      state = checkpoint!.state;
      if (state !== 'STATE_DELETED') {
        await new Promise((done) => setTimeout(done, 50));
      }
    }
    expect(state).toBe('STATE_DELETED');
    await expect(stat(join(storage, uuid))).rejects.toThrow(/ENOENT/);
  });

  it('serves the web UI from --web-root, with the API beside it', async () => {
    const d = await dir();
    const ui = join(d, 'ui');
    await mkdir(join(ui, 'assets'), { recursive: true });
    await writeFile(join(ui, 'index.html'), '<!doctype html><title>UI</title>');
    await writeFile(join(ui, 'assets', 'app-1.js'), 'export {};');
    const config = configOf(loadConfig(['--port', '0', '--data-dir', d, '--web-root', ui], {}));
    const master = await startMaster(config, silentLogger);
    cleanups.push(() => master.close());
    const page = await fetch(`${master.url}/trials/1`, { headers: { accept: 'text/html' } });
    expect([page.status, await page.text()]).toEqual([200, '<!doctype html><title>UI</title>']);
    const asset = await fetch(`${master.url}/assets/app-1.js`);
    expect(asset.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(await asset.text()).toBe('export {};');
    expect((await fetch(`${master.url}/api/v1/master`)).status).toBe(200);
  });

  it('refuses a non-loopback address while a user has an empty password', async () => {
    const d = await dir();
    const config = configOf(loadConfig(['--port', '0', '--data-dir', d, '--host', '0.0.0.0'], {}));
    await expect(startMaster(config, silentLogger)).rejects.toThrow(
      /refusing to listen on 0\.0\.0\.0: active users without a password: admin, determined/,
    );
  });

  it('rejects a master.yaml checkpoint_storage naming the key at fault', async () => {
    const d = await dir();
    const file = join(d, 'master.yaml');
    for (const [storage, problem] of [
      ['{type: s3}', 'checkpoint_storage.bucket is required for s3 storage'],
      ['{type: s3, bucket: b, prefix: ../up}', "checkpoint_storage.prefix must not contain '..'"],
      [
        '{type: s3, bucket: b, endpoint_url: "minio:9000"}',
        'checkpoint_storage.endpoint_url must be an http(s) URL',
      ],
      [
        '{type: s3, bucket: b, region: us-east-2}',
        'checkpoint_storage.region is not a key of s3 storage',
      ],
    ] as const) {
      await writeFile(file, `checkpoint_storage: ${storage}\n`);
      const config = configOf(loadConfig(['--port', '0', '--data-dir', d, '--config', file], {}));
      const error: unknown = await startMaster(config, silentLogger).then(
        (m) => m.close().then(() => undefined),
        (err: unknown) => err,
      );
      expect(error, storage).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).problems, storage).toEqual([
        expect.stringContaining(problem) as string,
      ]);
    }
  });

  it('exits 2 with one line naming the key for a bad checkpoint_storage in master.yaml', async () => {
    const d = await dir();
    const file = join(d, 'master.yaml');
    await writeFile(file, 'checkpoint_storage: {type: s3, prefix: ckpts}\n');
    const run = await runMaster(['--port', '0', '--data-dir', d, '--config', file]);
    expect([run.code, run.stdout]).toEqual([2, '']);
    expect(run.stderr).toBe('det-master: checkpoint_storage.bucket is required for s3 storage\n');
  });

  it('rejects a default checkpoint storage without its required keys', async () => {
    const d = await dir();
    const config = {
      ...configOf(loadConfig(['--port', '0', '--data-dir', d], {})),
      checkpointStorage: { type: 's3' },
    };
    await expect(startMaster(config, silentLogger)).rejects.toThrow(
      /checkpoint_storage.bucket is required/,
    );
  });
});

describe('isLoopback', () => {
  it('knows loopback addresses from the rest', () => {
    expect(['127.0.0.1', '127.1.2.3', '::1', 'localhost'].every(isLoopback)).toBe(true);
    expect(['0.0.0.0', '::', '10.0.0.1', 'example.com'].some(isLoopback)).toBe(false);
  });
});
