import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { parseStorageShortcut } from '@determined-ts/storage';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';

import { ConfigError } from './errors.js';
import { describeIssues } from './http.js';
import { TrustedProxies } from './trusted-proxies.js';

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
  /** Time a client has to send a request's headers; the slowloris bound. */
  headersTimeoutMs: number;
  /** Time a client has to send a whole request, body included; 0 for none. */
  requestTimeoutMs: number;
  /** How long an idle keep-alive connection stays open between requests; 0 for no limit. */
  keepAliveTimeoutMs: number;
  /** A connection with no bytes either way for this long is closed; 0 for no limit. */
  idleTimeoutMs: number;
  /** On SIGTERM/SIGINT, how long in-flight requests may run before they are cut. */
  shutdownTimeoutMs: number;
  /** Open connections allowed from one remote address; more get a 503. 0 for no cap. */
  maxConnectionsPerAddress: number;
  /**
   * Proxies (addresses, CIDR ranges) whose `X-Forwarded-For` names the client, for what is
   * counted per client address (the login throttle). @default [] (every peer is the client)
   */
  trustedProxies: readonly string[];
}

export const DEFAULT_PORT = 8080;
export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024;
export const DEFAULT_HEADERS_TIMEOUT_MS = 20_000;
// Node's own default: a 64 MiB body has five minutes to arrive.
export const DEFAULT_REQUEST_TIMEOUT_MS = 300_000;
// Node's own default. Behind a load balancer, set it above the balancer's idle timeout.
export const DEFAULT_KEEP_ALIVE_TIMEOUT_MS = 5_000;
export const DEFAULT_IDLE_TIMEOUT_MS = 60_000;
export const DEFAULT_SHUTDOWN_TIMEOUT_MS = 10_000;
// Behind a proxy every connection comes from its address: raise it there, or set 0.
export const DEFAULT_MAX_CONNECTIONS_PER_ADDRESS = 256;

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
 * The built UI: the copy an installed master package carries (`web/`, put there by `npm pack`),
 * else the `dist/` of the workspace package `@determined-ts/web`, else `undefined`.
 */
export function defaultWebRoot(): string | undefined {
  const packaged = fileURLToPath(new URL('../web', import.meta.url));
  if (existsSync(join(packaged, 'index.html'))) {
    return packaged;
  }
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
    headers_timeout_ms: z.number().int().positive(),
    request_timeout_ms: z.number().int().nonnegative(),
    keep_alive_timeout_ms: z.number().int().nonnegative(),
    idle_timeout_ms: z.number().int().nonnegative(),
    shutdown_timeout_ms: z.number().int().nonnegative(),
    max_connections_per_address: z.number().int().nonnegative(),
    trusted_proxies: z.array(z.string()),
  })
  .partial()
  .strict();
type FileSettings = z.output<typeof fileSchema>;

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
  --trusted-proxies LIST    comma-separated addresses or CIDR ranges of load balancers whose
                            X-Forwarded-For names the client, so that login throttling counts
                            clients, not the balancer (default: none; env DET_TRUSTED_PROXIES;
                            master.yaml trusted_proxies: a list)

  Connection limits (times in ms; env DET_ plus the flag in upper snake case, such as
  DET_HEADERS_TIMEOUT_MS; master.yaml keys in snake_case, such as headers_timeout_ms):
  --headers-timeout-ms MS   time a client has to send a request's headers (default 20000)
  --request-timeout-ms MS   time to send a whole request, body included (default 300000; 0: none)
  --keep-alive-timeout-ms MS
                            idle time allowed between requests on a connection (default 5000;
                            0: none)
  --idle-timeout-ms MS      close a connection with no bytes either way for this long
                            (default 60000; 0: never)
  --shutdown-timeout-ms MS  on SIGTERM/SIGINT, time in-flight requests get before they are cut
                            (default 10000)
  --max-connections-per-address N
                            open connections allowed from one address; more are answered 503
                            (default 256; 0: no cap; behind a proxy, raise it or set 0)
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
        'trusted-proxies': { type: 'string' },
        ...Object.fromEntries(LIMITS.map((l) => [l.flag, { type: 'string' as const }])),
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
  let file: FileSettings = {};
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
  const proxiesSetting = flags['trusted-proxies'] ?? env.DET_TRUSTED_PROXIES;
  const trustedProxies =
    proxiesSetting === undefined
      ? (file.trusted_proxies ?? [])
      : proxiesSetting
          .split(',')
          .map((p) => p.trim())
          .filter((p) => p !== '');
  try {
    new TrustedProxies(trustedProxies);
  } catch (err: unknown) {
    problems.push(`trusted proxies: ${err instanceof Error ? err.message : String(err)}`);
  }
  const limits = {} as Record<LimitKey, number>;
  for (const limit of LIMITS) {
    const raw = (flags as Record<string, unknown>)[limit.flag] ?? env[limit.env];
    limits[limit.key] = file[limit.file] ?? limit.fallback;
    if (typeof raw === 'string') {
      const value = /^\d+$/.test(raw) ? Number(raw) : Number.NaN;
      if (Number.isSafeInteger(value) && value >= limit.min) {
        limits[limit.key] = value;
      } else {
        problems.push(`${limit.file}: expected an integer ≥ ${limit.min}, got '${raw}'`);
      }
    }
  }
  // Node refuses a server whose header bound is past its request bound.
  if (limits.requestTimeoutMs > 0 && limits.headersTimeoutMs > limits.requestTimeoutMs) {
    problems.push(
      `headers_timeout_ms (${limits.headersTimeoutMs}) must not exceed request_timeout_ms (${limits.requestTimeoutMs})`,
    );
  }
  if (problems.length > 0) {
    throw new ConfigError(problems);
  }
  return Object.freeze({
    ...limits,
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
    trustedProxies,
    maxBodyBytes: file.max_body_bytes ?? DEFAULT_MAX_BODY_BYTES,
    checkpointStorage: checkpointStorage ?? {
      type: 'directory',
      container_path: join(dataDir, 'checkpoints'),
    },
    storageEnv: storageEnvOf(env),
    ...(webRoot === undefined ? {} : { webRoot }),
  });
}

type LimitKey =
  | 'headersTimeoutMs'
  | 'requestTimeoutMs'
  | 'keepAliveTimeoutMs'
  | 'idleTimeoutMs'
  | 'shutdownTimeoutMs'
  | 'maxConnectionsPerAddress';

/** The connection limits: each a flag, a `DET_` env var and a `master.yaml` key. */
const LIMITS = [
  limit('headersTimeoutMs', 'headers_timeout_ms', DEFAULT_HEADERS_TIMEOUT_MS, 1),
  limit('requestTimeoutMs', 'request_timeout_ms', DEFAULT_REQUEST_TIMEOUT_MS),
  limit('keepAliveTimeoutMs', 'keep_alive_timeout_ms', DEFAULT_KEEP_ALIVE_TIMEOUT_MS),
  limit('idleTimeoutMs', 'idle_timeout_ms', DEFAULT_IDLE_TIMEOUT_MS),
  limit('shutdownTimeoutMs', 'shutdown_timeout_ms', DEFAULT_SHUTDOWN_TIMEOUT_MS),
  limit(
    'maxConnectionsPerAddress',
    'max_connections_per_address',
    DEFAULT_MAX_CONNECTIONS_PER_ADDRESS,
  ),
];

/** The `master.yaml` keys that hold a number. */
type NumericFileKey = {
  [K in keyof FileSettings]-?: NonNullable<FileSettings[K]> extends number ? K : never;
}[keyof FileSettings];

function limit(key: LimitKey, file: NumericFileKey, fallback: number, min = 0) {
  return {
    key,
    file,
    fallback,
    min,
    flag: file.replaceAll('_', '-'),
    env: `DET_${file.toUpperCase()}`,
  };
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
