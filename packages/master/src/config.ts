import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

import { parseStorageShortcut } from '@determined-ts/storage';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';

import { ConfigError } from './errors.js';
import { describeIssues } from './http.js';

/** Everything the master needs to start, after flags, env, `master.yaml` and defaults. */
export interface MasterConfig {
  host: string;
  port: number;
  dataDir: string;
  /** A `postgres://` URL or an SQLite file path. */
  db: string;
  allowEmptyPasswords: boolean;
  clusterName: string;
  maxBodyBytes: number;
  /** Default `checkpoint_storage` for experiments that name none (snake_case, as in Determined). */
  checkpointStorage: Record<string, unknown>;
  /**
   * What the storage package reads from the environment to reach object stores: the AWS region
   * (`AWS_REGION`, `AWS_DEFAULT_REGION`), GCS's `GOOGLE_APPLICATION_CREDENTIALS` and
   * `STORAGE_EMULATOR_HOST`, Azure's `AZURE_STORAGE_CONNECTION_STRING`. AWS credentials are
   * left to the AWS SDK's own chain. @default {}
   */
  storageEnv?: Readonly<Record<string, string>>;
  /** Directory of the built web UI; `undefined` when none was given or found. */
  webRoot?: string;
}

export const DEFAULT_PORT = 8080;
export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024;

/** The per-user data directory, following each platform's convention. */
export function defaultDataDir(env: NodeJS.ProcessEnv, platform = process.platform): string {
  if (platform === 'darwin') {
    return join(homedir(), 'Library', 'Application Support', 'determined-ts');
  }
  if (platform === 'win32') {
    return join(env.LOCALAPPDATA ?? join(homedir(), 'AppData', 'Local'), 'determined-ts');
  }
  return join(env.XDG_DATA_HOME ?? join(homedir(), '.local', 'share'), 'determined-ts');
}

/**
 * The built UI of the workspace package `@determined-ts/web` (its `dist/`), or `undefined` when
 * that package is not installed beside the master.
 */
export function defaultWebRoot(): string | undefined {
  try {
    const require = createRequire(import.meta.url);
    return join(dirname(require.resolve('@determined-ts/web/package.json')), 'dist');
  } catch {
    // Not installed (a master without the UI): UI pages say how to build it.
    return undefined;
  }
}

const fileSchema = z
  .object({
    host: z.string().min(1),
    port: z.number().int().min(0).max(65535),
    data_dir: z.string().min(1),
    db: z.string().min(1),
    allow_empty_passwords: z.boolean(),
    cluster_name: z.string(),
    max_body_bytes: z.number().int().positive(),
    checkpoint_storage: z.record(z.string(), z.unknown()),
    web_root: z.string().min(1),
  })
  .partial()
  .strict();

const portSchema = z.coerce.number().int().min(0).max(65535);
const boolFromEnv = (value: string | undefined): boolean | undefined =>
  value === undefined ? undefined : ['1', 'true', 'yes'].includes(value.toLowerCase());

export const USAGE = `usage: det-master [options]

  --host HOST               address to listen on (default 127.0.0.1; env DET_HOST)
  --port PORT               port to listen on (default 8080; env DET_PORT)
  --data-dir DIR            data directory (default: per-user data dir; env DET_DATA_DIR)
  --db URL|PATH             postgres:// URL or SQLite file (default: <data-dir>/master.db; env DET_DB)
  --config FILE             master.yaml with the same settings in snake_case (env DET_MASTER_CONFIG)
  --web-root DIR            built web UI to serve at / (default: the dist/ of @determined-ts/web;
                            env DET_WEB_ROOT)
  --checkpoint-storage S    default checkpoint storage: s3://bucket/prefix, gs://bucket/prefix, a
                            path, or a YAML mapping such as '{type: s3, bucket: b, endpoint_url:
                            http://127.0.0.1:9000}' (default: <data-dir>/checkpoints;
                            env DET_CHECKPOINT_STORAGE)
  --allow-empty-passwords   listen on a non-loopback address even while a user has no password
  -h, --help                show this help`;

/**
 * Resolves the master's configuration: flag, then env, then `master.yaml`, then defaults.
 * Every problem is collected and reported at once as a {@link ConfigError}.
 */
export function loadConfig(argv: readonly string[], env: NodeJS.ProcessEnv): MasterConfig | 'help' {
  const problems: string[] = [];
  let flags;
  try {
    flags = parseArgs({
      args: [...argv],
      options: {
        host: { type: 'string' },
        port: { type: 'string' },
        'data-dir': { type: 'string' },
        db: { type: 'string' },
        config: { type: 'string' },
        'web-root': { type: 'string' },
        'checkpoint-storage': { type: 'string' },
        'allow-empty-passwords': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (err: unknown) {
    throw new ConfigError([err instanceof Error ? err.message : String(err)]);
  }
  if (flags.help === true) {
    return 'help';
  }
  let file: z.output<typeof fileSchema> = {};
  const configPath = flags.config ?? env.DET_MASTER_CONFIG;
  if (configPath !== undefined) {
    try {
      const parsed = fileSchema.safeParse(parseYaml(readFileSync(configPath, 'utf8')) ?? {});
      if (parsed.success) {
        file = parsed.data;
      } else {
        problems.push(`${configPath}: ${describeIssues(parsed.error.issues)}`);
      }
    } catch (err: unknown) {
      problems.push(`${configPath}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  const rawPort = flags.port ?? env.DET_PORT;
  let port = file.port ?? DEFAULT_PORT;
  if (rawPort !== undefined) {
    const parsed = portSchema.safeParse(rawPort);
    if (parsed.success && /^\d+$/.test(rawPort)) {
      port = parsed.data;
    } else {
      problems.push(`port: expected an integer from 0 to 65535, got '${rawPort}'`);
    }
  }
  const host = flags.host ?? env.DET_HOST ?? file.host ?? DEFAULT_HOST;
  if (host === '') {
    problems.push('host: must not be empty');
  }
  const dataDir = resolve(
    flags['data-dir'] ?? env.DET_DATA_DIR ?? file.data_dir ?? defaultDataDir(env),
  );
  const db = flags.db ?? env.DET_DB ?? file.db ?? join(dataDir, 'master.db');
  if (db === '') {
    problems.push('db: must not be empty');
  }
  const webRootSetting = flags['web-root'] ?? env.DET_WEB_ROOT ?? file.web_root;
  if (webRootSetting === '') {
    problems.push('web root: must not be empty');
  }
  const webRoot =
    webRootSetting === undefined || webRootSetting === ''
      ? defaultWebRoot()
      : resolve(webRootSetting);
  const storageSetting = flags['checkpoint-storage'] ?? env.DET_CHECKPOINT_STORAGE;
  let checkpointStorage = file.checkpoint_storage;
  if (storageSetting !== undefined) {
    try {
      checkpointStorage = parseStorageSetting(storageSetting);
    } catch (err: unknown) {
      problems.push(`checkpoint storage: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  if (problems.length > 0) {
    throw new ConfigError(problems);
  }
  return Object.freeze({
    host,
    port,
    dataDir,
    db,
    allowEmptyPasswords:
      flags['allow-empty-passwords'] ??
      boolFromEnv(env.DET_ALLOW_EMPTY_PASSWORDS) ??
      file.allow_empty_passwords ??
      false,
    clusterName: file.cluster_name ?? '',
    maxBodyBytes: file.max_body_bytes ?? DEFAULT_MAX_BODY_BYTES,
    checkpointStorage: checkpointStorage ?? {
      type: 'directory',
      container_path: join(dataDir, 'checkpoints'),
    },
    storageEnv: storageEnvOf(env),
    ...(webRoot === undefined ? {} : { webRoot }),
  });
}

/**
 * `--checkpoint-storage`: a YAML (or JSON) mapping when it starts with `{`, else a shortcut as
 * Determined's Core API takes them (`s3://bucket/prefix`, `gs://…`, a path). The block itself
 * is checked with the rest of the storage config when the master starts.
 */
function parseStorageSetting(value: string): Record<string, unknown> {
  if (value.trimStart().startsWith('{')) {
    const parsed: unknown = parseYaml(value);
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      throw new Error(`expected a mapping, got ${JSON.stringify(value)}`);
    }
    return parsed as Record<string, unknown>;
  }
  return parseStorageShortcut(value);
}

/** The environment variables handed to the storage package (see `MasterConfig.storageEnv`). */
const STORAGE_ENV_NAMES = [
  'AWS_REGION',
  'AWS_DEFAULT_REGION',
  'GOOGLE_APPLICATION_CREDENTIALS',
  'STORAGE_EMULATOR_HOST',
  'AZURE_STORAGE_CONNECTION_STRING',
] as const;

function storageEnvOf(env: NodeJS.ProcessEnv): Readonly<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of STORAGE_ENV_NAMES) {
    const value = env[name];
    if (value !== undefined && value !== '') {
      out[name] = value;
    }
  }
  return Object.freeze(out);
}
