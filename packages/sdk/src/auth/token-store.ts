import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, unlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

import { errnoCode } from '@determined-ts/storage';

import { ArgumentError, AuthenticationError } from '../errors.js';
import { determinedConfigDir } from './config-path.js';
import { withFileLock } from './file-lock.js';
import { canonicalMasterUrl, resolveMasterUrl } from './master-url.js';
import {
  CorruptTokenStoreError,
  emptyTokenStore,
  isPortableMasterUrl,
  parseTokenStore,
  serializeTokenStore,
} from './token-store-format.js';
import type { MasterEntry, TokenStoreFile } from './token-store-format.js';

/** Where `TokenStore.load` finds the master and the config directory. */
export interface TokenStoreLoadOptions {
  /** Master address; else `DET_MASTER`, `DET_MASTER_ADDR`, then `localhost:8080`. */
  master?: string;
  /**
   * Environment for the master and the config directory (`DET_DEBUG_CONFIG_PATH`,
   * `XDG_CONFIG_HOME`, `HOME`).
   * @default process.env
   */
  env?: Record<string, string | undefined>;
}

/**
 * The session tokens Determined's CLI and SDK share, for one master: `<config dir>/auth.json`
 * (v2 format), as determined-ai/determined: harness/determined/common/api/authentication.py
 * (`TokenStore`) keeps it, so `det user login` of either CLI and both SDKs reuse each other's
 * sessions.
 *
 * Every change takes the same lock Determined's Python `filelock` takes (flock(2) on
 * `auth.json.lock`), re-reads the file under it, applies the change and replaces the file
 * atomically; reads take no lock (a reader always sees a whole file). The getters show the
 * file as it was at `load`/`open`, updated by this instance's own changes.
 *
 * @example
 * // det user login alice
 * const store = await TokenStore.load({ master: 'det.example.com' });
 * await store.setToken('alice', token, { activate: true });
 * // det user logout
 * const user = store.activeUser;
 * if (user !== undefined) await store.dropUser(user, { deactivate: true });
 */
export class TokenStore {
  /** The canonical master URL whose tokens these are. */
  readonly masterUrl: string;
  /** The `auth.json` path. */
  readonly path: string;
  #entry: MasterEntry;

  private constructor(masterUrl: string, path: string, entry: MasterEntry) {
    this.masterUrl = masterUrl;
    this.path = path;
    this.#entry = entry;
  }

  /**
   * Reads the store of the master `options.master` names (canonicalised as Determined does)
   * from Determined's config directory, both resolved as `openSession` resolves them. A
   * missing file is an empty store; a corrupt one is deleted (see {@link TokenStore.open}).
   */
  static load(options: TokenStoreLoadOptions = {}): Promise<TokenStore> {
    const env = options.env ?? process.env;
    return TokenStore.open(resolveMasterUrl(options.master, env), determinedConfigDir(env));
  }

  /**
   * Reads the store for `masterUrl`, which must be canonical (`canonicalMasterUrl`; else an
   * `ArgumentError`), from `configDir`. A missing file is an empty store. A corrupt one is
   * deleted, as Determined does, and reported by an {@link AuthenticationError} that says so;
   * the next attempt starts afresh.
   */
  static async open(masterUrl: string, configDir: string): Promise<TokenStore> {
    if (canonicalMasterUrl(masterUrl) !== masterUrl) {
      throw new ArgumentError(
        'master',
        `TokenStore needs a canonical master url (${canonicalMasterUrl(masterUrl)}), got ${masterUrl}`,
      );
    }
    const path = join(configDir, 'auth.json');
    let file: TokenStoreFile;
    try {
      file = await readStore(path, masterUrl);
    } catch (err: unknown) {
      if (!(err instanceof CorruptTokenStoreError)) {
        throw err;
      }
      // Someone may be rewriting it: decide under the lock, and only then delete.
      file = await withFileLock(`${path}.lock`, () => readStoreOrDelete(path, masterUrl));
    }
    return new TokenStore(masterUrl, path, file.masters[masterUrl] ?? {});
  }

  /** The user `det user login` made active for this master, if any. */
  get activeUser(): string | undefined {
    return this.#entry.active_user;
  }

  /** Users with a stored token. */
  users(): string[] {
    return Object.keys(this.#entry.tokens ?? {});
  }

  /** `user`'s stored token, or `undefined`. Whether the master still accepts it is not checked. */
  getToken(user: string): string | undefined {
    return this.#entry.tokens?.[user];
  }

  /**
   * Stores `user`'s token. The active user is left alone, as the SDKs' login does, unless
   * `activate` is set: then `user` becomes active in the same update (`det user login`).
   */
  async setToken(user: string, token: string, options: { activate?: boolean } = {}): Promise<void> {
    checkName('user', user);
    checkName('token', token);
    await this.#update((entry) => {
      entry.tokens = { ...entry.tokens, [user]: token };
      if (options.activate === true) {
        entry.active_user = user;
      }
    });
  }

  /**
   * Forgets `user`'s token; a user without one is no error. The active user is left alone, as
   * the SDKs do when a token expires, unless `deactivate` is set: then, if `user` is the active
   * user, there is none afterwards (`det user logout`).
   */
  dropUser(user: string, options: { deactivate?: boolean } = {}): Promise<void> {
    return this.#update((entry) => {
      const tokens = { ...entry.tokens };
      delete tokens[user];
      entry.tokens = tokens;
      if (options.deactivate === true && entry.active_user === user) {
        delete entry.active_user;
      }
    });
  }

  /** Makes `user` the active user (`det user login`); they must have a token. */
  setActive(user: string): Promise<void> {
    return this.#update((entry) => {
      entry.tokens ??= {};
      if (entry.tokens[user] === undefined) {
        throw new AuthenticationError(`cannot make ${user} active: no session for ${user}`);
      }
      entry.active_user = user;
    });
  }

  /** Forgets the active user; the tokens stay (`det user logout --all` drops them first). */
  clearActive(): Promise<void> {
    return this.#update((entry) => {
      delete entry.active_user;
    });
  }

  /**
   * Read, change, write back, all under the lock. Masters whose URL Determined could not read
   * back (IPv6 literals) are kept in memory only, lest Determined delete the whole file.
   */
  async #update(change: (entry: MasterEntry) => void): Promise<void> {
    if (!isPortableMasterUrl(this.masterUrl)) {
      const entry = structuredClone(this.#entry);
      change(entry);
      this.#entry = entry;
      return;
    }
    await mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
    await withFileLock(`${this.path}.lock`, async (lock) => {
      const file = await readStoreOrDelete(this.path, this.masterUrl);
      const entry = (file.masters[this.masterUrl] ??= {});
      change(entry);
      // Under flock, Determined's own temp name is ours alone; without it, only a unique one is.
      const temp =
        lock === 'none'
          ? `${this.path}.temp.${process.pid}.${randomBytes(4).toString('hex')}`
          : `${this.path}.temp`;
      try {
        // Tokens are credentials: owner-only, though Determined leaves the umask's mode.
        await writeFile(temp, serializeTokenStore(file), { mode: 0o600 });
        await rename(temp, this.path);
      } catch (err: unknown) {
        await rm(temp, { force: true });
        throw err;
      }
      this.#entry = entry;
    });
  }
}

function checkName(what: 'user' | 'token', value: unknown): void {
  if (typeof value !== 'string' || value === '') {
    throw new ArgumentError(what, `a ${what} must be a non-empty string`);
  }
}

async function readStore(path: string, masterUrl: string): Promise<TokenStoreFile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err: unknown) {
    if (errnoCode(err) === 'ENOENT') {
      return emptyTokenStore();
    }
    throw err;
  }
  return parseTokenStore(text, masterUrl);
}

/** Call with the lock held: a corrupt file is deleted and reported. */
async function readStoreOrDelete(path: string, masterUrl: string): Promise<TokenStoreFile> {
  try {
    return await readStore(path, masterUrl);
  } catch (err: unknown) {
    if (!(err instanceof CorruptTokenStoreError)) {
      throw err;
    }
    await unlink(path).catch((unlinkErr: unknown) => {
      if (errnoCode(unlinkErr) !== 'ENOENT') {
        throw unlinkErr;
      }
    });
    throw new AuthenticationError(
      `the token cache ${path} was corrupt (${err.message}) and has been deleted; please try again`,
      { cause: err },
    );
  }
}
