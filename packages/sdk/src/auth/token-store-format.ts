import { canonicalMasterUrl } from './master-url.js';

/*
 * The on-disk format of Determined's token cache, `auth.json`, read and written the way
 * determined-ai/determined: harness/determined/common/api/authentication.py (`TokenStore`) does:
 *
 *   v0 (seed):  {"active_user": "a", "tokens": {"a": "TOKEN"}}
 *   v1:         {"version": 1, "masters": {"<any url>": <v0 entry>}}
 *   v2 (now):   {"version": 2, "masters": {"<canonical url>": <v0 entry>}}
 *
 * Older versions are migrated on read; anything that does not validate is corrupt, and the caller
 * deletes the file (as Determined does). Determined writes `json.dump(indent=4, sort_keys=True)`
 * with ASCII escapes; `serializeTokenStore` produces the same bytes.
 */

/** One master's entry: its active user and a token per user. */
export interface MasterEntry {
  active_user?: string;
  tokens?: Record<string, string>;
}

/** A parsed (and migrated) v2 store. */
export interface TokenStoreFile {
  version: 2;
  masters: Record<string, MasterEntry>;
  /**
   * Other top-level keys. Determined's check for extra keys is a strict-superset test, so it
   * tolerates (and keeps) unknown keys unless both `version` and `masters` are present.
   */
  extra: Record<string, unknown>;
}

/** The file does not hold a valid token store. */
export class CorruptTokenStoreError extends Error {
  constructor(why: string) {
    super(`corrupt token store: ${why}`);
    this.name = 'CorruptTokenStoreError';
  }
}

/** An empty store, as a missing file reads. */
export function emptyTokenStore(): TokenStoreFile {
  return { version: 2, masters: {}, extra: {} };
}

/**
 * Parses `auth.json`, migrating v0 (which belongs to `masterUrl`, the master being asked about)
 * and v1 files to v2. Throws {@link CorruptTokenStoreError} for anything Determined calls corrupt.
 */
export function parseTokenStore(text: string, masterUrl: string): TokenStoreFile {
  let store: unknown;
  try {
    store = JSON.parse(text);
  } catch {
    throw new CorruptTokenStoreError('not JSON');
  }
  if (!isObject(store)) {
    throw new CorruptTokenStoreError('not an object');
  }
  const version = 'version' in store ? store.version : 0;
  if (typeof version !== 'number') {
    // Python compares it with `<` and would crash; treating it as corrupt is the useful reading.
    throw new CorruptTokenStoreError('version is not a number');
  }
  let current: Record<string, unknown> = store;
  if (version < 1) {
    // A v0 file has no `version` key at all: `{"version": 0}` fails here, as in Determined.
    validateMasterEntry(current);
    current = { version: 1, masters: { [masterUrl]: current } };
  }
  if (version < 2) {
    validateVersioned(current, 1);
    current = migrateV1(current);
  }
  validateVersioned(current, 2);
  const masters = (current.masters ?? {}) as Record<string, MasterEntry>;
  for (const url of Object.keys(masters)) {
    if (!isCanonicalKey(url)) {
      throw new CorruptTokenStoreError(`master url ${url} is not canonical`);
    }
  }
  const extra: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(current)) {
    if (key !== 'version' && key !== 'masters') {
      extra[key] = value;
    }
  }
  return { version: 2, masters, extra };
}

/** The file's text, byte for byte what Determined's `json.dump(indent=4, sort_keys=True)` writes. */
export function serializeTokenStore(store: TokenStoreFile): string {
  const data = { ...store.extra, masters: store.masters, version: store.version };
  return toPythonJson(data);
}

/** `json.dumps(value, indent=4, sort_keys=True)` with Python's default `ensure_ascii`. */
export function toPythonJson(value: unknown): string {
  // ensure_ascii escapes everything outside printable ASCII, DEL included; JSON.stringify has
  // already escaped the control characters, and structural characters are all ASCII.
  return JSON.stringify(sortKeys(value), null, 4).replace(
    /[\u007f-\uffff]/g,
    (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) {
    return value.map(sortKeys);
  }
  if (isObject(value)) {
    const sorted: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      sorted[key] = sortKeys(value[key]);
    }
    return sorted;
  }
  return value;
}

/**
 * True when Python's canonicaliser and ours agree on `url`, so a key we write never makes
 * Determined declare the file corrupt. Python renders an IPv6 host without brackets
 * (`http://::1:8080`), which it then cannot parse again: such masters are never stored.
 */
export function isPortableMasterUrl(url: string): boolean {
  return !url.includes('[');
}

/**
 * Whether a v2 key is canonical. Our canonicaliser (WHATWG URL) and Python's (urllib) differ on
 * exotic input (non-ASCII hosts, spaces or `%` or `;` in paths, IPv6), and calling a file corrupt
 * deletes every token in it, so keys with such characters are given the benefit of the doubt.
 */
function isCanonicalKey(url: string): boolean {
  if (/[^A-Za-z0-9.:/_~-]/.test(url)) {
    return true;
  }
  try {
    return canonicalMasterUrl(url) === url;
  } catch {
    return false;
  }
}

function validateMasterEntry(entry: unknown): asserts entry is MasterEntry {
  if (!isObject(entry)) {
    throw new CorruptTokenStoreError('a master entry is not an object');
  }
  for (const key of Object.keys(entry)) {
    if (key !== 'active_user' && key !== 'tokens') {
      throw new CorruptTokenStoreError(`unexpected key ${key} in a master entry`);
    }
  }
  if ('active_user' in entry && typeof entry.active_user !== 'string') {
    throw new CorruptTokenStoreError('active_user is not a string');
  }
  if ('tokens' in entry) {
    const tokens = entry.tokens;
    if (!isObject(tokens) || Object.values(tokens).some((t) => typeof t !== 'string')) {
      throw new CorruptTokenStoreError('tokens is not a map of strings');
    }
  }
}

function validateVersioned(store: Record<string, unknown>, version: 1 | 2): void {
  const keys = Object.keys(store);
  // Mirrors `set(store.keys()) > {"version", "masters"}`: extra keys only count beside both.
  if (keys.includes('version') && keys.includes('masters') && keys.length > 2) {
    throw new CorruptTokenStoreError('unexpected top-level keys');
  }
  if (store.version !== version) {
    throw new CorruptTokenStoreError(`version ${String(store.version)} is not ${version}`);
  }
  if ('masters' in store) {
    const masters = store.masters;
    if (!isObject(masters)) {
      throw new CorruptTokenStoreError('masters is not an object');
    }
    Object.values(masters).forEach(validateMasterEntry);
  }
}

/**
 * v1 → v2: keys are canonicalised, forgiving what old clients tolerated (credentials, query,
 * fragment); entries that collapse onto one URL merge their tokens (later wins) and keep the
 * first active user; keys that cannot be canonicalised are dropped.
 */
function migrateV1(v1: Record<string, unknown>): Record<string, unknown> {
  const grouped = new Map<string, MasterEntry[]>();
  for (const [url, entry] of Object.entries((v1.masters ?? {}) as Record<string, MasterEntry>)) {
    let canonical: string;
    try {
      canonical = canonicalMasterUrl(precanonicalize(url));
    } catch {
      continue;
    }
    if (!isPortableMasterUrl(canonical)) {
      continue;
    }
    grouped.set(canonical, [...(grouped.get(canonical) ?? []), entry]);
  }
  const masters: Record<string, MasterEntry> = {};
  for (const [url, entries] of grouped) {
    const tokens: Record<string, string> = {};
    for (const entry of entries) {
      Object.assign(tokens, entry.tokens ?? {});
    }
    const merged: MasterEntry = { tokens };
    const active = entries.find((e) => e.active_user !== undefined)?.active_user;
    if (active !== undefined) {
      merged.active_user = active;
    }
    masters[url] = merged;
  }
  return { version: 2, masters };
}

/** Strips what old clients ignored but the canonical form refuses: user info, query, fragment. */
function precanonicalize(url: string): string {
  let withScheme = url;
  let defaultPort = '8080';
  if (url.startsWith('https://')) {
    defaultPort = '443';
  } else if (url.startsWith('http://')) {
    defaultPort = '80';
  } else {
    withScheme = `http://${url}`;
  }
  const parsed = new URL(withScheme);
  const port = parsed.port === '' ? defaultPort : parsed.port;
  return `${parsed.protocol}//${parsed.hostname}:${port}${parsed.pathname}`.replace(/\/+$/, '');
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
