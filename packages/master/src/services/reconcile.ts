import { lstat, readdir, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';

import type { JsonObject } from '@determined-ts/api';
import { StorageUnreachableError, errnoCode, openCheckpointStore } from '@determined-ts/storage';
import type { StoredObject } from '@determined-ts/storage';

import type { AppDeps } from '../context.js';
import type { CheckpointRow } from '../db/schema.js';
import { HttpError, badRequest } from '../errors.js';
import { storageLabel } from '../storage-label.js';
import { storageConfigs } from './checkpoint-dto.js';
import { lockRow, setResources } from './checkpoints.js';
import { parseJsonObject } from './json.js';
import { listRegularFiles, localRoot, openStore, storeFailure } from './storage.js';

/** A top-level entry of a local storage root named like a checkpoint that no live one owns. */
export interface Orphan {
  /** The storage root, as the master's start-up lines show it. */
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
  /** Local roots that could not be scanned (other than not existing yet), orphans not deleted. */
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

/** The directories local storages put checkpoints in, each once, with its label. */
async function localRoots(deps: AppDeps): Promise<Map<string, string>> {
  const roots = new Map<string, string>();
  for (const storage of await knownStorages(deps)) {
    if (!LOCAL_TYPES.has(String(storage.type))) {
      // Object stores need a listing of their root by prefix, which the storage package does not
      // offer yet: their orphans are not looked for (issue 15 stays open for it).
      continue;
    }
    try {
      const store = await openCheckpointStore(storage, PROBE_UUID, {
        side: 'master',
        env: deps.settings.storageEnv ?? {},
      });
      const root = localRoot(store);
      if (root !== undefined && !roots.has(dirname(root))) {
        roots.set(dirname(root), storageLabel(storage));
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

async function findOrphans(
  deps: AppDeps,
  cutoffMs: number,
  errors: ReconcileOutcome['storageErrors'],
): Promise<(Orphan & { path: string })[]> {
  const found: (Orphan & { path: string })[] = [];
  for (const [root, label] of await localRoots(deps)) {
    let names: string[];
    try {
      names = (await readdir(root)).filter((n) => CHECKPOINT_NAME.test(n)).sort();
    } catch (err: unknown) {
      if (errnoCode(err) !== 'ENOENT') {
        errors.push({ storage: label, error: err instanceof Error ? err.message : String(err) });
      }
      continue;
    }
    const owned = await ownedUuids(deps, names);
    for (const uuid of names.filter((n) => !owned.has(n))) {
      const path = join(root, uuid);
      const entry = await candidate(path, cutoffMs);
      if (entry !== undefined) {
        found.push({
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

/** What a listing says about recorded resources: paths gone, paths of another size. */
function compare(
  resources: Record<string, number>,
  listed: readonly StoredObject[],
): { missingPaths: string[]; changedPaths: string[]; present: Record<string, number> } {
  const sizes = new Map(listed.map((o) => [o.path, o.size]));
  const missingPaths: string[] = [];
  const changedPaths: string[] = [];
  const present: Record<string, number> = {};
  for (const [path, size] of Object.entries(resources).sort(([a], [b]) => (a < b ? -1 : 1))) {
    const actual = sizes.get(path);
    if (path.endsWith('/')) {
      // Object stores need not keep directory markers: a directory with files in it is there.
      if (actual !== undefined || listed.some((o) => o.path.startsWith(path))) {
        present[path] = size;
      } else {
        missingPaths.push(path);
      }
    } else if (actual === undefined) {
      missingPaths.push(path);
    } else {
      if (actual !== size) {
        changedPaths.push(path);
      }
      present[path] = actual;
    }
  }
  return { missingPaths, changedPaths, present };
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

async function findMissing(
  deps: AppDeps,
): Promise<(MissingFiles & { id: number; present?: Record<string, number> })[]> {
  const rows = await deps.db.kysely
    .selectFrom('checkpoints')
    .selectAll()
    .where('state', 'in', LIVE_STATES)
    .orderBy('id')
    .execute();
  const out: (MissingFiles & { id: number; present?: Record<string, number> })[] = [];
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
      const { missingPaths, changedPaths, present } = compare(resources, listed);
      if (missingPaths.length > 0 || changedPaths.length > 0) {
        out.push({ ...base, missingPaths, changedPaths, present });
      }
    }
  }
  return out;
}

/**
 * Compares storage with the database, both ways: entries of local storage roots named like a
 * checkpoint with no live checkpoint (older than the grace period; links never followed), and
 * live checkpoints whose files are gone or differ from their resources. With `apply`, deletes
 * the orphans (each re-checked first) and records what is really stored as the resources of
 * the others, as `det checkpoint rm` does: DELETED when nothing is left. A store that cannot be
 * read is reported and changes nothing.
 */
export async function reconcileStorage(
  deps: AppDeps,
  { apply, graceSeconds }: ReconcileOptions,
): Promise<ReconcileOutcome> {
  const cutoffMs = deps.clock() - graceSeconds * 1000;
  const storageErrors: ReconcileOutcome['storageErrors'] = [];
  const orphans = await findOrphans(deps, cutoffMs, storageErrors);
  const missing = await findMissing(deps);
  const outcome: ReconcileOutcome = {
    orphans: orphans.map(({ path: _path, ...o }) => o),
    missing: missing.map(({ id: _id, present: _present, ...m }) => m),
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
    const entry = await candidate(orphan.path, cutoffMs);
    if (entry === undefined) {
      continue;
    }
    try {
      // rm does not follow links: a link below the entry is removed, never its target.
      await rm(orphan.path, { recursive: true, force: true });
    } catch (err: unknown) {
      // Reported, and the others still go: what is left is found again next time.
      const why = err instanceof Error ? err.message : String(err);
      outcome.storageErrors.push({ storage: orphan.storage, error: `${orphan.uuid}: ${why}` });
      continue;
    }
    applied.orphansDeleted += 1;
    applied.bytesFreed += entry.bytes;
  }
  for (const m of missing) {
    if (m.present === undefined) {
      continue; // unreadable store: nothing changes
    }
    const present = m.present;
    const updated = await deps.db.kysely.transaction().execute(async (trx) => {
      const row = await lockRow(trx, m.id);
      if (!LIVE_STATES.includes(row.state)) {
        return false; // deleted meanwhile
      }
      // Only the paths looked at change: a patch meanwhile keeps what it recorded otherwise.
      const current = parseJsonObject(row.resources) as Record<string, number>;
      const next: Record<string, number> = {};
      for (const [path, size] of Object.entries(current)) {
        if (m.missingPaths.includes(path)) {
          continue;
        }
        next[path] = path in present ? (present[path] ?? size) : size;
      }
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
