import type { CheckpointState, JsonObject } from '@determined-ts/api';
import { sql } from 'kysely';
import type { Transaction } from 'kysely';

import type { AppDeps } from '../context.js';
import type { CheckpointRow, Database } from '../db/schema.js';
import { HttpError, badRequest, notFound } from '../errors.js';
import { finiteMetric } from './config.js';
import { canonicalJson, parseJsonObject } from './json.js';
import { refuseRegistered } from './registered-checkpoints.js';

/** A checkpoint report (`POST /api/v1/checkpoints`), after body validation. */
export interface CheckpointReport {
  uuid: string;
  taskId: string;
  allocationId: string | null;
  reportTime: number | undefined;
  state: CheckpointState;
  resources: Record<string, number>;
  metadata: JsonObject;
  storageId: number | null;
  digests: Record<string, string> | null;
  /** Our extension: path → CRC32C of the file, 8 lowercase hex digits. */
  crc32c: Record<string, string> | null;
}

/** Checks a relative resource path: no absolute paths, `..`, empty or `.` segments, or backslashes. */
export function checkResourcePath(path: string): void {
  const body = path.endsWith('/') ? path.slice(0, -1) : path;
  const segments = body.split('/');
  if (
    body === '' ||
    path.startsWith('/') ||
    path.includes('\\') ||
    path.includes('\0') ||
    segments.some((s) => s === '' || s === '.' || s === '..')
  ) {
    throw badRequest(
      `invalid resource path '${path}': must be relative, without '.', '..' or empty segments`,
    );
  }
}

/**
 * Checks a report's per-file checksums (`digests`, `crc32c`): each names a file of `resources`
 * (not a directory) and is lowercase hex of the checksum's length.
 */
function checkFileChecksums(
  resources: Record<string, number>,
  checksums: Record<string, string> | null,
  what: { name: string; kind: string; pattern: RegExp; digits: number },
): void {
  for (const [path, value] of Object.entries(checksums ?? {})) {
    if (!Object.hasOwn(resources, path) || path.endsWith('/')) {
      throw badRequest(`${what.name} given for '${path}', which is not a file in resources`);
    }
    if (!what.pattern.test(value)) {
      throw badRequest(
        `invalid ${what.kind} for '${path}': expected ${what.digits} lowercase hex digits`,
      );
    }
  }
}

function stepsOf(metadata: JsonObject): number | null {
  const steps = metadata.steps_completed;
  return typeof steps === 'number' && Number.isSafeInteger(steps) && steps >= 0 ? steps : null;
}

/**
 * Adjusts the per-(trial, state) counters (count and bytes) in the same transaction as the
 * change itself.
 */
async function bumpCount(
  trx: Transaction<Database>,
  trialId: number,
  state: string,
  delta: number,
  bytesDelta: number,
): Promise<void> {
  if (delta === 0 && bytesDelta === 0) {
    return;
  }
  // An upsert, so two replicas counting a trial's first checkpoint at once cannot collide.
  await trx
    .insertInto('checkpoint_counts')
    .values({ trial_id: trialId, state, n: delta, bytes: bytesDelta })
    .onConflict((oc) =>
      oc.columns(['trial_id', 'state']).doUpdateSet((eb) => ({
        n: eb('checkpoint_counts.n', '+', delta),
        bytes: eb('checkpoint_counts.bytes', '+', bytesDelta),
      })),
    )
    .execute();
}

/** Looks up the live validation's searcher value at `steps` for a trial. */
async function searcherValueAt(
  trx: Transaction<Database>,
  trialId: number,
  steps: number | null,
): Promise<number | null> {
  if (steps === null) {
    return null;
  }
  const row = await trx
    .selectFrom('metrics')
    .innerJoin('trials', 'trials.id', 'metrics.trial_id')
    .innerJoin('experiments', 'experiments.id', 'trials.experiment_id')
    .select(['metrics.avg_metrics', 'experiments.searcher_metric'])
    .where('metrics.trial_id', '=', trialId)
    .where('metrics.metric_group', '=', 'validation')
    .where('metrics.total_batches', '=', steps)
    // Literal: a bound value here makes SQLite re-prepare (it picks metrics_live by it).
    .where('metrics.archived', '=', sql.lit(0))
    .executeTakeFirst();
  return row === undefined
    ? null
    : finiteMetric(parseJsonObject(row.avg_metrics), row.searcher_metric);
}

/**
 * Registers a checkpoint reported by a trial's task. Only COMPLETED (or UNSPECIFIED, which
 * means COMPLETED) is accepted, as upstream. Re-sending an identical report is a no-op, so a
 * client may retry after a lost response.
 */
export async function reportCheckpoint(deps: AppDeps, report: CheckpointReport): Promise<void> {
  if (report.state !== 'STATE_COMPLETED' && report.state !== 'STATE_UNSPECIFIED') {
    throw badRequest(`invalid state for reported checkpoint: ${report.state}`);
  }
  for (const [path, size] of Object.entries(report.resources)) {
    checkResourcePath(path);
    if (size < 0 || (path.endsWith('/') && size !== 0)) {
      throw badRequest(`invalid size ${size} for resource '${path}'`);
    }
  }
  checkFileChecksums(report.resources, report.digests, {
    name: 'digest',
    kind: 'sha256 digest',
    pattern: /^[0-9a-f]{64}$/,
    digits: 64,
  });
  checkFileChecksums(report.resources, report.crc32c, {
    name: 'crc32c',
    kind: 'crc32c',
    pattern: /^[0-9a-f]{8}$/,
    digits: 8,
  });
  const steps = stepsOf(report.metadata);
  if (steps === null) {
    throw badRequest('checkpoint metadata.steps_completed must be a non-negative integer');
  }
  const uuid = report.uuid.toLowerCase();
  const db = deps.db.kysely;
  await db.transaction().execute(async (trx) => {
    // Locking the trial row serialises this with a validation report for the same trial on
    // PostgreSQL, so one of the two always sees the other and `searcher_metric` is set.
    // (SQLite runs one write transaction at a time anyway.)
    const trial = await trx
      .selectFrom('trials')
      .select(['id'])
      .where('task_id', '=', report.taskId)
      .$if(deps.db.dialect === 'postgres', (qb) => qb.forUpdate())
      .executeTakeFirst();
    if (trial === undefined) {
      throw notFound('task', report.taskId);
    }
    if (report.storageId !== null) {
      const storage = await trx
        .selectFrom('storage_backends')
        .select('id')
        .where('id', '=', report.storageId)
        .executeTakeFirst();
      if (storage === undefined) {
        throw notFound('storage backend', report.storageId);
      }
    }
    const resources = JSON.stringify(report.resources);
    const existing = await trx
      .selectFrom('checkpoints')
      .selectAll()
      .where('uuid', '=', uuid)
      .executeTakeFirst();
    const checkRetry = (existing: CheckpointRow): void => {
      // A retry repeats the whole report; any difference in what it describes is a conflict.
      if (
        existing.trial_id === trial.id &&
        canonicalJson(JSON.parse(existing.resources)) === canonicalJson(report.resources) &&
        canonicalJson(JSON.parse(existing.metadata)) === canonicalJson(report.metadata) &&
        canonicalJson(existing.digests === null ? null : JSON.parse(existing.digests)) ===
          canonicalJson(report.digests) &&
        canonicalJson(existing.crc32c === null ? null : JSON.parse(existing.crc32c)) ===
          canonicalJson(report.crc32c)
      ) {
        return;
      }
      throw new HttpError('already_exists', `checkpoint '${uuid}' already exists`);
    };
    if (existing !== undefined) {
      checkRetry(existing);
      return;
    }
    const size = Object.values(report.resources).reduce((a, b) => a + b, 0);
    const inserted = await trx
      .insertInto('checkpoints')
      .values({
        uuid,
        trial_id: trial.id,
        task_id: report.taskId,
        allocation_id: report.allocationId,
        report_time: report.reportTime ?? deps.clock(),
        state: 'STATE_COMPLETED',
        resources,
        metadata: JSON.stringify(report.metadata),
        size,
        steps_completed: steps,
        storage_id: report.storageId,
        digests: report.digests === null ? null : JSON.stringify(report.digests),
        crc32c: report.crc32c === null ? null : JSON.stringify(report.crc32c),
        searcher_metric: await searcherValueAt(trx, trial.id, steps),
      })
      .onConflict((oc) => oc.column('uuid').doNothing())
      .executeTakeFirst();
    if (Number(inserted.numInsertedOrUpdatedRows ?? 0) === 0) {
      // A concurrent report of this uuid committed first (PostgreSQL waits for it above).
      checkRetry(
        await trx
          .selectFrom('checkpoints')
          .selectAll()
          .where('uuid', '=', uuid)
          .executeTakeFirstOrThrow(),
      );
      return;
    }
    await bumpCount(trx, trial.id, 'STATE_COMPLETED', 1, size);
  });
}

export async function getCheckpointRow(deps: AppDeps, uuid: string): Promise<CheckpointRow> {
  const row = await deps.db.kysely
    .selectFrom('checkpoints')
    .selectAll()
    .where('uuid', '=', uuid)
    .executeTakeFirst();
  if (row === undefined) {
    throw notFound('checkpoint', uuid);
  }
  return row;
}

/** States whose files may be downloaded: all of them, or what a partial delete left. */
const DOWNLOADABLE_STATES = new Set(['STATE_COMPLETED', 'STATE_PARTIALLY_DELETED']);

/** The row of a checkpoint whose files may be downloaded: 404 when unknown, 400 for its state. */
export async function getDownloadableRow(deps: AppDeps, uuid: string): Promise<CheckpointRow> {
  const row = await getCheckpointRow(deps, uuid);
  if (!DOWNLOADABLE_STATES.has(row.state)) {
    throw new HttpError(
      'failed_precondition',
      `checkpoint ${uuid} is ${row.state}; only COMPLETED or PARTIALLY_DELETED checkpoints can be downloaded`,
    );
  }
  return row;
}

/** The rows of `uuids` (any case), or a 404 naming those that are unknown. */
export async function getRows(deps: AppDeps, uuids: readonly string[]): Promise<CheckpointRow[]> {
  const unique = [...new Set(uuids.map((u) => u.toLowerCase()))];
  const rows: CheckpointRow[] = [];
  // Chunked: one IN list per request would pass both databases' bound-parameter limits.
  for (let i = 0; i < unique.length; i += 5000) {
    rows.push(
      ...(await deps.db.kysely
        .selectFrom('checkpoints')
        .selectAll()
        .where('uuid', 'in', unique.slice(i, i + 5000))
        .execute()),
    );
  }
  const found = new Set(rows.map((r) => r.uuid));
  const missing = unique.filter((u) => !found.has(u));
  if (missing.length > 0) {
    const more = missing.length > 10 ? ` (and ${missing.length - 10} more)` : '';
    throw notFound('checkpoint', missing.slice(0, 10).join("', '") + more);
  }
  return rows;
}

/** New resources and the state they imply, as Determined's PATCH computes it. */
function nextState(row: CheckpointRow, resources: Record<string, number>): string {
  if (Object.keys(resources).length === 0) {
    return 'STATE_DELETED';
  }
  return canonicalJson(parseJsonObject(row.resources)) === canonicalJson(resources)
    ? row.state
    : 'STATE_PARTIALLY_DELETED';
}

/**
 * Records a checkpoint's remaining `resources`: its size and state follow, the per-file
 * checksums of files no longer there go, and the per-state counters move.
 */
export async function setResources(
  trx: Transaction<Database>,
  row: CheckpointRow,
  resources: Record<string, number>,
): Promise<void> {
  const state = nextState(row, resources);
  const size = Object.values(resources).reduce((a, b) => a + b, 0);
  await trx
    .updateTable('checkpoints')
    .set({
      resources: JSON.stringify(resources),
      size,
      state,
      digests: keptFor(row.digests, resources),
      crc32c: keptFor(row.crc32c, resources),
    })
    .where('id', '=', row.id)
    .execute();
  if (state !== row.state) {
    await bumpCount(trx, row.trial_id, row.state, -1, -row.size);
    await bumpCount(trx, row.trial_id, state, 1, size);
  } else {
    await bumpCount(trx, row.trial_id, state, 0, size - row.size);
  }
}

/** A stored `{path: checksum}` map (JSON or NULL) cut down to the paths still in `resources`. */
function keptFor(stored: string | null, resources: Record<string, number>): string | null {
  if (stored === null) {
    return null;
  }
  const map = JSON.parse(stored) as Record<string, string>;
  return JSON.stringify(Object.fromEntries(Object.entries(map).filter(([p]) => p in resources)));
}

/**
 * Re-reads a checkpoint inside a transaction while holding its row (a no-op update takes the
 * lock on both dialects), so concurrent patches and deletes each start from what the previous
 * one left and move the per-state counters exactly once.
 */
export async function lockRow(trx: Transaction<Database>, id: number): Promise<CheckpointRow> {
  await trx
    .updateTable('checkpoints')
    .set((eb) => ({ state: eb.ref('state') }))
    .where('id', '=', id)
    .execute();
  return trx.selectFrom('checkpoints').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
}

/**
 * `PATCH /api/v1/checkpoints`: replaces the resources of each listed checkpoint. An empty map
 * marks it DELETED; a different map, PARTIALLY_DELETED. All uuids are checked before anything
 * changes.
 */
export async function patchCheckpoints(
  deps: AppDeps,
  patches: readonly { uuid: string; resources: Record<string, number> | undefined }[],
): Promise<void> {
  const rows = await getRows(
    deps,
    patches.map((p) => p.uuid),
  );
  await refuseRegistered(deps.db.kysely, rows, 'patched');
  const byUuid = new Map(rows.map((r) => [r.uuid, r]));
  for (const p of patches) {
    for (const path of Object.keys(p.resources ?? {})) {
      checkResourcePath(path);
    }
  }
  await deps.db.kysely.transaction().execute(async (trx) => {
    for (const p of patches) {
      const row = byUuid.get(p.uuid.toLowerCase());
      if (row !== undefined && p.resources !== undefined) {
        await setResources(trx, await lockRow(trx, row.id), p.resources);
      }
    }
  });
}

/** Replaces a checkpoint's metadata wholesale; its step (and so its metrics) follow the new value. */
export async function replaceMetadata(
  deps: AppDeps,
  uuid: string,
  metadata: JsonObject,
): Promise<void> {
  const row = await getCheckpointRow(deps, uuid);
  const steps = stepsOf(metadata);
  await deps.db.kysely.transaction().execute(async (trx) => {
    await trx
      .updateTable('checkpoints')
      .set({
        metadata: JSON.stringify(metadata),
        steps_completed: steps,
        searcher_metric: await searcherValueAt(trx, row.trial_id, steps),
      })
      .where('id', '=', row.id)
      .execute();
  });
}
