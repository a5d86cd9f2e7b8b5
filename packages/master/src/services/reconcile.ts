import { lstat, readdir, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';

import type { JsonObject } from '@determined-ts/api';
import { StorageUnreachableError, errnoCode, openCheckpointStore } from '@determined-ts/storage';
import type { RootEntry, StoredObject } from '@determined-ts/storage';

import type { AppDeps } from '../context.js';
import type { CheckpointRow } from '../db/schema.js';
import { HttpError, badRequest } from '../errors.js';
import { storageLabel } from '../storage-label.js';
import { storageConfigs } from './checkpoint-dto.js';
import { lockRow, setResources } from './checkpoints.js';
import { parseJsonObject } from './json.js';
import { isStoreFailure, listRegularFiles, localRoot, openStore, storeFailure } from './storage.js';

/** A top-level entry of a storage root named like a checkpoint that no live one owns. */
export interface Orphan {
  /** The storage, as the master's start-up lines show it. */
  storage: string;
  uuid: string;
  bytes: number;
  modifiedTime: string;
}

/** A live checkpoint whose files differ from its recorded resources. */
export interface MissingFiles {
  uuid: string;
  state: string;
  missingPaths: string[];
  changedPaths: string[];
  /** The store could not be read: nothing is known, and nothing changes. */
  error?: string;
}

export interface ReconcileOutcome {
  orphans: Orphan[];
  missing: MissingFiles[];
  /**
   * Roots that could not be scanned (a local one other than not existing yet, an object store
   * that failed to list) and orphans that could not be deleted.
   */
  storageErrors: { storage: string; error: string }[];
  applied: { orphansDeleted: number; bytesFreed: number; checkpointsUpdated: number } | null;
}

export interface ReconcileOptions {
  apply: boolean;
  graceSeconds: number;
}

/** Lowercase v4 UUIDs, as checkpoints are named; anything else in a root is not ours to judge. */
const CHECKPOINT_NAME = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
/** States whose files are wanted: an ACTIVE checkpoint may still be being written. */
const OWNING_STATES = ['STATE_COMPLETED', 'STATE_PARTIALLY_DELETED', 'STATE_ACTIVE'];
/** States whose resources promise files. */
const LIVE_STATES = ['STATE_COMPLETED', 'STATE_PARTIALLY_DELETED'];
const LOCAL_TYPES = new Set(['directory', 'shared_fs']);
/** Policy fields: experiments that differ only in these share one storage root. */
const POLICY_KEYS = new Set(['save_experiment_best', 'save_trial_best', 'save_trial_latest']);
/** A name to open a store with, only to learn the root it would live under. */
const PROBE_UUID = '00000000-0000-4000-8000-000000000000';
const IN_CHUNK = 500;

/** Every distinct storage config the master knows: its own, experiments', recorded backends. */
async function knownStorages(deps: AppDeps): Promise<JsonObject[]> {
  const db = deps.db.kysely;
  const configs: JsonObject[] = [deps.settings.defaultCheckpointStorage];
  for (const e of await db.selectFrom('experiments').select('config').execute()) {
    const storage = parseJsonObject(e.config).checkpoint_storage;
    if (storage !== null && typeof storage === 'object' && !Array.isArray(storage)) {
      configs.push(storage as JsonObject);
    }
  }
  for (const b of await db.selectFrom('storage_backends').select('config').execute()) {
    configs.push(parseJsonObject(b.config));
  }
  return configs;
}

/** Where checkpoints are stored: local directories, and object store roots. */
interface StorageRoots {
  /** Directory → label. */
  local: Map<string, string>;
  /** One config per object store root (bucket and prefix, with its endpoint and credentials). */
  objects: { label: string; storage: JsonObject }[];
}

/** The roots of every storage the master knows, each once. */
async function storageRoots(deps: AppDeps): Promise<StorageRoots> {
  const roots: StorageRoots = { local: new Map(), objects: [] };
  const seenObjects = new Set<string>();
  for (const storage of await knownStorages(deps)) {
    if (!LOCAL_TYPES.has(String(storage.type))) {
      const where = Object.entries(storage)
        .filter(([k]) => !POLICY_KEYS.has(k))
        .sort(([a], [b]) => (a < b ? -1 : 1));
      const key = JSON.stringify(where);
      if (!seenObjects.has(key)) {
        seenObjects.add(key);
        roots.objects.push({ label: storageLabel(storage), storage });
      }
      continue;
    }
    try {
      const store = await openCheckpointStore(storage, PROBE_UUID, {
        side: 'master',
        env: deps.settings.storageEnv ?? {},
      });
      const root = localRoot(store);
      if (root !== undefined && !roots.local.has(dirname(root))) {
        roots.local.set(dirname(root), storageLabel(storage));
      }
    } catch {
      // A config the master cannot open has no root here to scan; its checkpoints say so below.
    }
  }
  return roots;
}

/** The uuids of `uuids` that a checkpoint in an owning state has. */
async function ownedUuids(deps: AppDeps, uuids: readonly string[]): Promise<Set<string>> {
  const owned = new Set<string>();
  for (let i = 0; i < uuids.length; i += IN_CHUNK) {
    const rows = await deps.db.kysely
      .selectFrom('checkpoints')
      .select('uuid')
      .where('uuid', 'in', uuids.slice(i, i + IN_CHUNK))
      .where('state', 'in', OWNING_STATES)
      .execute();
    for (const r of rows) {
      owned.add(r.uuid);
    }
  }
  return owned;
}

/** An entry old enough, and a real directory or file: never a link (lstat only). */
async function candidate(
  path: string,
  cutoffMs: number,
): Promise<{ bytes: number; mtimeMs: number } | undefined> {
  let s;
  try {
    s = await lstat(path);
  } catch (err: unknown) {
    if (errnoCode(err) === 'ENOENT') {
      return undefined;
    }
    throw err;
  }
  if (s.mtimeMs > cutoffMs || s.isSymbolicLink()) {
    return undefined;
  }
  if (s.isFile()) {
    return { bytes: s.size, mtimeMs: s.mtimeMs };
  }
  if (!s.isDirectory()) {
    return undefined;
  }
  // listRegularFiles skips links below, so their targets are neither counted nor touched.
  const files = await listRegularFiles(path);
  // A file written deep inside does not touch the directory's own mtime: the newest counts.
  const mtimeMs = files.reduce((newest, f) => Math.max(newest, f.mtimeMs), s.mtimeMs);
  if (mtimeMs > cutoffMs) {
    return undefined;
  }
  return { bytes: files.reduce((sum, f) => sum + f.size, 0), mtimeMs };
}

/** Where an orphan is, so that apply can re-check and delete it. */
type FoundOrphan = Orphan &
  ({ kind: 'local'; path: string } | { kind: 'object'; config: JsonObject });

const errorText = (err: unknown): string => (err instanceof Error ? err.message : String(err));

async function findLocalOrphans(
  deps: AppDeps,
  roots: StorageRoots['local'],
  cutoffMs: number,
  errors: ReconcileOutcome['storageErrors'],
): Promise<FoundOrphan[]> {
  const found: FoundOrphan[] = [];
  for (const [root, label] of roots) {
    let names: string[];
    try {
      names = (await readdir(root)).filter((n) => CHECKPOINT_NAME.test(n)).sort();
    } catch (err: unknown) {
      if (errnoCode(err) !== 'ENOENT') {
        errors.push({ storage: label, error: errorText(err) });
      }
      continue;
    }
    const owned = await ownedUuids(deps, names);
    for (const uuid of names.filter((n) => !owned.has(n))) {
      const path = join(root, uuid);
      const entry = await candidate(path, cutoffMs);
      if (entry !== undefined) {
        found.push({
          kind: 'local',
          storage: label,
          uuid,
          bytes: entry.bytes,
          modifiedTime: new Date(entry.mtimeMs).toISOString(),
          path,
        });
      }
    }
  }
  return found;
}

/** The store of `uuid` under an object storage config, as the master reaches it. */
function openObjectStore(deps: AppDeps, storage: JsonObject, uuid: string) {
  return openStore(deps.settings, storage, uuid, (r) =>
    badRequest(r.problem ?? `${r.type} storage is not reachable from the master`),
  );
}

/**
 * An object store entry worth calling an orphan: every object is older than the cutoff. An
 * object without a modification time is taken as new: nothing unknown is deleted.
 */
function isOldEnough(
  entry: RootEntry,
  cutoffMs: number,
): entry is RootEntry & { newestMtimeMs: number } {
  return entry.newestMtimeMs !== undefined && entry.newestMtimeMs <= cutoffMs;
}

async function findObjectOrphans(
  deps: AppDeps,
  roots: StorageRoots['objects'],
  cutoffMs: number,
  errors: ReconcileOutcome['storageErrors'],
): Promise<FoundOrphan[]> {
  const found: FoundOrphan[] = [];
  for (const { label, storage } of roots) {
    let entries: RootEntry[];
    try {
      const store = await openObjectStore(deps, storage, PROBE_UUID);
      if (store.listRoot === undefined) {
        continue;
      }
      entries = (await store.listRoot()).filter((e) => CHECKPOINT_NAME.test(e.name));
    } catch (err: unknown) {
      if (!isStoreFailure(err) && !(err instanceof HttpError)) {
        throw err; // a bug, not the store
      }
      errors.push({ storage: label, error: errorText(err) });
      continue;
    }
    const owned = await ownedUuids(
      deps,
      entries.map((e) => e.name),
    );
    for (const entry of entries) {
      if (!owned.has(entry.name) && isOldEnough(entry, cutoffMs)) {
        found.push({
          kind: 'object',
          storage: label,
          uuid: entry.name,
          bytes: entry.bytes,
          modifiedTime: new Date(entry.newestMtimeMs).toISOString(),
          config: storage,
        });
      }
    }
  }
  return found;
}

/**
 * Deletes an orphan found earlier if it still is one: its entry is looked at again, and must
 * still be wholly older than the cutoff. Returns the bytes freed, or `undefined` when it no
 * longer qualifies.
 */
async function removeOrphan(
  deps: AppDeps,
  orphan: FoundOrphan,
  cutoffMs: number,
): Promise<number | undefined> {
  if (orphan.kind === 'local') {
    const entry = await candidate(orphan.path, cutoffMs);
    if (entry === undefined) {
      return undefined;
    }
    // rm does not follow links: a link below the entry is removed, never its target.
    await rm(orphan.path, { recursive: true, force: true });
    return entry.bytes;
  }
  const store = await openObjectStore(deps, orphan.config, orphan.uuid);
  const objects = await store.list();
  const newest = objects.reduce<number | undefined>(
    (max, o) =>
      o.mtimeMs === undefined || max === undefined ? undefined : Math.max(max, o.mtimeMs),
    0,
  );
  if (objects.length === 0 || newest === undefined || newest > cutoffMs) {
    return undefined;
  }
  await store.removeAll();
  return objects.reduce((sum, o) => sum + o.size, 0);
}

/** What a listing says about recorded resources: paths gone, paths of another size. */
function compare(
  resources: Record<string, number>,
  listed: readonly StoredObject[],
): { missingPaths: string[]; changedPaths: string[] } {
  const sizes = new Map(listed.map((o) => [o.path, o.size]));
  const missingPaths: string[] = [];
  const changedPaths: string[] = [];
  for (const [path, size] of Object.entries(resources).sort(([a], [b]) => (a < b ? -1 : 1))) {
    const actual = sizes.get(path);
    if (path.endsWith('/')) {
      // Object stores need not keep directory markers: a directory with files in it is there.
      if (actual === undefined && !listed.some((o) => o.path.startsWith(path))) {
        missingPaths.push(path);
      }
    } else if (actual === undefined) {
      missingPaths.push(path);
    } else if (actual !== size) {
      changedPaths.push(path);
    }
  }
  return { missingPaths, changedPaths };
}

const refusal = (uuid: string) => (r: { type: string; problem: string | undefined }) =>
  badRequest(
    `cannot read files of checkpoint ${uuid}: ${r.problem ?? `${r.type} storage is not reachable from the master`}`,
  );

/** Lists a checkpoint's store; a local checkpoint directory that is gone lists as empty. */
async function listStored(
  deps: AppDeps,
  row: CheckpointRow,
  storage: JsonObject,
): Promise<StoredObject[]> {
  const store = await openStore(deps.settings, storage, row.uuid, refusal(row.uuid));
  try {
    return await store.list();
  } catch (err: unknown) {
    if (
      err instanceof StorageUnreachableError &&
      err.reason === 'not_found' &&
      LOCAL_TYPES.has(store.type)
    ) {
      return [];
    }
    throw storeFailure(err, store, `list checkpoint ${row.uuid} in`);
  }
}

async function findMissing(deps: AppDeps): Promise<(MissingFiles & { id: number })[]> {
  const rows = await deps.db.kysely
    .selectFrom('checkpoints')
    .selectAll()
    .where('state', 'in', LIVE_STATES)
    .orderBy('id')
    .execute();
  const out: (MissingFiles & { id: number })[] = [];
  for (let i = 0; i < rows.length; i += IN_CHUNK) {
    const chunk = rows.slice(i, i + IN_CHUNK);
    const storages = await storageConfigs(deps.db.kysely, chunk);
    for (const row of chunk) {
      const base = { id: row.id, uuid: row.uuid, state: row.state };
      let listed: StoredObject[];
      try {
        listed = await listStored(deps, row, storages.get(row.uuid) ?? {});
      } catch (err: unknown) {
        if (!(err instanceof HttpError)) {
          throw err; // a bug, not the store
        }
        out.push({ ...base, missingPaths: [], changedPaths: [], error: err.message });
        continue;
      }
      const resources = parseJsonObject(row.resources) as Record<string, number>;
      const { missingPaths, changedPaths } = compare(resources, listed);
      if (missingPaths.length > 0 || changedPaths.length > 0) {
        out.push({ ...base, missingPaths, changedPaths });
      }
    }
  }
  return out;
}

/**
 * Compares storage with the database, both ways: top-level entries of storage roots (local
 * directories, and the prefixes of S3, GCS and Azure storage) named like a checkpoint with no
 * live checkpoint (wholly older than the grace period; links never followed), and live
 * checkpoints whose files are gone or differ in size from their resources.
 *
 * With `apply`, deletes the orphans (each re-checked just before) and drops the missing files
 * from the others' resources, as `det checkpoint rm` does: PARTIALLY_DELETED, or DELETED when
 * nothing is left. Files of another size are reported and left as recorded: the master cannot
 * tell which side is right, and a download, which checks the recorded size and digests,
 * refuses the changed bytes rather than taking them as the checkpoint. A store that cannot be
 * read is reported and changes nothing.
 */
export async function reconcileStorage(
  deps: AppDeps,
  { apply, graceSeconds }: ReconcileOptions,
): Promise<ReconcileOutcome> {
  const cutoffMs = deps.clock() - graceSeconds * 1000;
  const storageErrors: ReconcileOutcome['storageErrors'] = [];
  const roots = await storageRoots(deps);
  const orphans = [
    ...(await findLocalOrphans(deps, roots.local, cutoffMs, storageErrors)),
    ...(await findObjectOrphans(deps, roots.objects, cutoffMs, storageErrors)),
  ];
  const missing = await findMissing(deps);
  const outcome: ReconcileOutcome = {
    orphans: orphans.map(({ storage, uuid, bytes, modifiedTime }) => ({
      storage,
      uuid,
      bytes,
      modifiedTime,
    })),
    missing: missing.map(({ id: _id, ...m }) => m),
    storageErrors,
    applied: null,
  };
  if (!apply) {
    return outcome;
  }
  const applied = { orphansDeleted: 0, bytesFreed: 0, checkpointsUpdated: 0 };
  for (const orphan of orphans) {
    // Re-checked just before: a checkpoint reported since, or an entry changed since, stays.
    if ((await ownedUuids(deps, [orphan.uuid])).size > 0) {
      continue;
    }
    let freed: number | undefined;
    try {
      freed = await removeOrphan(deps, orphan, cutoffMs);
    } catch (err: unknown) {
      if (!isStoreFailure(err) && !(err instanceof HttpError)) {
        throw err; // a bug, not the store
      }
      // Reported, and the others still go: what is left is found again next time.
      outcome.storageErrors.push({
        storage: orphan.storage,
        error: `${orphan.uuid}: ${errorText(err)}`,
      });
      continue;
    }
    if (freed === undefined) {
      continue;
    }
    applied.orphansDeleted += 1;
    applied.bytesFreed += freed;
  }
  for (const m of missing) {
    if (m.error !== undefined || m.missingPaths.length === 0) {
      continue; // an unreadable store changes nothing, nor do changed files alone (see above)
    }
    const updated = await deps.db.kysely.transaction().execute(async (trx) => {
      const row = await lockRow(trx, m.id);
      if (!LIVE_STATES.includes(row.state)) {
        return false; // deleted meanwhile
      }
      // Only the missing paths go: a patch meanwhile keeps what it recorded otherwise.
      const current = parseJsonObject(row.resources) as Record<string, number>;
      const next = Object.fromEntries(
        Object.entries(current).filter(([path]) => !m.missingPaths.includes(path)),
      );
      await setResources(trx, row, next);
      return true;
    });
    if (updated) {
      applied.checkpointsUpdated += 1;
    }
  }
  outcome.applied = applied;
  return outcome;
}
