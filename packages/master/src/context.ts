import type { JsonObject, TokenScope } from '@determined-ts/api';

import type { Db } from './db/connect.js';
import type { Logger } from './logger.js';
import type { TrustedProxies } from './trusted-proxies.js';

/** Settings the routes need, taken from the master's configuration. */
export interface AppSettings {
  version: string;
  masterId: string;
  clusterName: string;
  /** Largest accepted request body. */
  maxBodyBytes: number;
  sessionTtlMs: number;
  /** `checkpoint_storage` for experiments whose config names none. */
  defaultCheckpointStorage: JsonObject;
  /**
   * The environment the storage package reads to reach object stores (the AWS region, GCS and
   * Azure credentials), from the master's config. @default {}
   */
  storageEnv?: Readonly<Record<string, string>>;
  /**
   * Directory of the built web UI (`index.html`, `assets/`), served at `/`. Unset, or without
   * an `index.html`, UI pages answer 503 saying how to build it.
   */
  webRoot?: string;
  /** Proxies whose `X-Forwarded-For` names the client. @default none */
  trustedProxies?: TrustedProxies;
}

/** Everything a route or service may touch. Built once by `main.ts` (or a test) and injected. */
export interface AppDeps {
  db: Db;
  settings: AppSettings;
  clock: () => number;
  logger: Logger;
  /** True once the master drains after SIGTERM: `/ready` then answers 503. @default never */
  isDraining?: () => boolean;
}

/** The signed-in user, set by the auth middleware. */
export interface AuthUser {
  id: number;
  username: string;
  admin: boolean;
  /** What the request's token may do: `full` for a login session. */
  scope: TokenScope;
  /** The access token the request came with, if it came with one. */
  accessTokenId?: number;
}

/** Hono's typed context variables for our app. */
export interface AppEnv {
  Variables: {
    user: AuthUser;
    requestId: string;
  };
}
