import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, unlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

import { AuthenticationError } from '../errors.js';
import { withFileLock } from './file-lock.js';
import { canonicalMasterUrl } from './master-url.js';
import {
  CorruptTokenStoreError,
  emptyTokenStore,
  isPortableMasterUrl,
  parseTokenStore,
  serializeTokenStore,
} from './token-store-format.js';
import type { MasterEntry, TokenStoreFile } from './token-store-format.js';

/**
 * The session tokens Determined's CLI and SDK share, for one master: `<config dir>/auth.json`
 * (see `determinedConfigDir`), guarded by `auth.json.lock` and replaced atomically through
 * `auth.json.temp`, as determined-ai/determined: harness/determined/common/api/authentication.py
 * (`TokenStore`) does, so `det user login` and this SDK reuse each other's sessions.
 *
 * Reads take no lock (writers replace the file by rename, so a reader sees a whole file); each
 * update re-reads the file under the lock, applies one change and writes it back.
 */
export class TokenStore {
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
   * Reads the store for `masterUrl` (canonical) from `configDir`. A missing file is an empty
   * store. A corrupt one is deleted, as Determined does, and reported by an
   * {@link AuthenticationError} that says so; the next attempt starts afresh.
   */
  static async open(masterUrl: string, configDir: string): Promise<TokenStore> {
    if (canonicalMasterUrl(masterUrl) !== masterUrl) {
      throw new TypeError(`TokenStore needs a canonical master url, got ${masterUrl}`);
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

  getToken(user: string): string | undefined {
    return this.#entry.tokens?.[user];
  }

  /** Stores `user`'s token (the active user is left alone, as Determined's SDK login does). */
  setToken(user: string, token: string): Promise<void> {
    return this.#update((entry) => {
      entry.tokens = { ...entry.tokens, [user]: token };
    });
  }

  /** Forgets `user`'s token. */
  dropUser(user: string): Promise<void> {
    return this.#update((entry) => {
      const tokens = { ...entry.tokens };
      delete tokens[user];
      entry.tokens = tokens;
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

  /** Forgets the active user. */
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

async function readStore(path: string, masterUrl: string): Promise<TokenStoreFile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err: unknown) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
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
      if ((unlinkErr as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw unlinkErr;
      }
    });
    throw new AuthenticationError(
      `the token cache ${path} was corrupt (${err.message}) and has been deleted; please try again`,
      { cause: err },
    );
  }
}
