import type { RootEntry, StoredObject } from './backend.js';
import { StorageUnreachableError, TransientStorageError } from './errors.js';
import { checkRelativePath } from './paths.js';

/** An object under a checkpoint's base in a bucket or container, as a store's listing has it. */
export interface ListedObject {
  /** The whole key or blob name, `<base>/…`. */
  name: string;
  size: number;
  version: string | undefined;
  crc32c?: string | undefined;
  mtimeMs?: number | undefined;
  /** Listed as a directory though its name has no `/` at the end (Azure's `hdi_isfolder`). */
  isDirectory?: boolean;
}

/**
 * A checkpoint's objects as Determined lays them out in object stores: `<base>/<relative
 * path>`, directories as zero-byte objects whose names end in `/` (read as directories, never as
 * files). A marker for the checkpoint itself (`<base>/`) is left out; paths that climb out are
 * refused (`checkRelativePath`). Sorted by path.
 */
export function checkpointObjects(base: string, listed: Iterable<ListedObject>): StoredObject[] {
  const out: StoredObject[] = [];
  for (const o of listed) {
    const rel = o.name.slice(base.length + 1);
    if (rel === '') {
      continue;
    }
    const path = checkRelativePath(o.isDirectory === true && !rel.endsWith('/') ? `${rel}/` : rel);
    out.push(
      path.endsWith('/')
        ? { path, size: 0, version: undefined, mtimeMs: o.mtimeMs }
        : { path, size: o.size, version: o.version, crc32c: o.crc32c, mtimeMs: o.mtimeMs },
    );
  }
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** The root a checkpoint's base lives under, as a listing prefix: `''` or `<prefix>/`. */
export function rootPrefixOf(base: string): string {
  const slash = base.lastIndexOf('/');
  return slash < 0 ? '' : base.slice(0, slash + 1);
}

/**
 * Objects listed under `rootPrefix`, grouped by the first segment after it. An entry with an
 * object of unknown age has no `newestMtimeMs`: its age is unknown too.
 */
export function rootEntries(rootPrefix: string, listed: Iterable<ListedObject>): RootEntry[] {
  const entries = new Map<string, RootEntry>();
  const ageUnknown = new Set<string>();
  for (const o of listed) {
    const rest = o.name.slice(rootPrefix.length);
    const slash = rest.indexOf('/');
    if (slash <= 0) {
      continue; // an object right at the root, or an empty segment: no checkpoint's layout
    }
    const name = rest.slice(0, slash);
    const entry = entries.get(name) ?? { name, bytes: 0, objects: 0, newestMtimeMs: undefined };
    entry.bytes += o.size;
    entry.objects += 1;
    if (o.mtimeMs === undefined) {
      ageUnknown.add(name);
    } else {
      entry.newestMtimeMs = Math.max(entry.newestMtimeMs ?? o.mtimeMs, o.mtimeMs);
    }
    entries.set(name, entry);
  }
  for (const name of ageUnknown) {
    const entry = entries.get(name);
    if (entry !== undefined) {
      entry.newestMtimeMs = undefined;
    }
  }
  return [...entries.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/**
 * `probe` and `list` of an object store's checkpoint: the listing `probe` makes is handed to the
 * next `list`, so one download lists the checkpoint once.
 */
export class CheckpointListing {
  readonly #type: string;
  readonly #location: string;
  readonly #listNow: (signal?: AbortSignal) => Promise<StoredObject[]>;
  #probed: StoredObject[] | undefined;

  constructor(
    type: string,
    location: string,
    listNow: (signal?: AbortSignal) => Promise<StoredObject[]>,
  ) {
    this.#type = type;
    this.#location = location;
    this.#listNow = listNow;
  }

  /**
   * Lists the checkpoint: `not_found` when it has no object, and `no_access` when the store
   * cannot be reached from here (no route, refused connection), which, like missing
   * credentials, makes a download read through the master instead.
   */
  async probe(signal?: AbortSignal): Promise<void> {
    let objects: StoredObject[];
    try {
      objects = await this.#listNow(signal);
    } catch (err: unknown) {
      if (err instanceof TransientStorageError && !err.isThrottled) {
        throw new StorageUnreachableError(
          this.#type,
          'no_access',
          `cannot reach ${this.#location}: ${err.message}`,
          { cause: err },
        );
      }
      throw err;
    }
    if (objects.length === 0) {
      throw new StorageUnreachableError(
        this.#type,
        'not_found',
        `no objects under ${this.#location}/`,
      );
    }
    this.#probed = objects;
  }

  async list(signal?: AbortSignal): Promise<StoredObject[]> {
    const probed = this.#probed;
    if (probed !== undefined) {
      this.#probed = undefined;
      return probed;
    }
    return this.#listNow(signal);
  }
}
