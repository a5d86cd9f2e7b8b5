import type { ExperimentDto, JsonObject } from '@determined-ts/api';
import { TERMINAL_TRIAL_STATES, encodeDouble, encodeTimestamp } from '@determined-ts/api';
import type { Kysely } from 'kysely';

import type { AppDeps, AuthUser } from '../context.js';
import type { Database, ExperimentRow } from '../db/schema.js';
import { HttpError, badRequest, notFound } from '../errors.js';
import { parseExperimentConfig } from './config.js';
import { parseJsonObject } from './json.js';
import { COUNTED_STATES, chunked } from './checkpoint-counts.js';

/** The one project and workspace every experiment belongs to: we have no workspaces yet. */
export const DEFAULT_PROJECT = {
  id: 1,
  name: 'Uncategorized',
  workspaceId: 1,
  workspaceName: 'Uncategorized',
};

export async function findExperiment(
  db: Kysely<Database>,
  id: number,
): Promise<ExperimentRow | undefined> {
  return db.selectFrom('experiments').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function getExperiment(deps: AppDeps, id: number): Promise<ExperimentRow> {
  const row = await findExperiment(deps.db.kysely, id);
  if (row === undefined) {
    throw notFound('experiment', id);
  }
  return row;
}

/** Creates an unmanaged experiment from YAML config text; idempotent when `externalId` is given. */
export async function createExperiment(
  deps: AppDeps,
  actor: AuthUser,
  req: { config: string; unmanaged: boolean; externalId?: string },
  defaultStorage: JsonObject,
): Promise<ExperimentRow> {
  if (!req.unmanaged) {
    throw badRequest(
      'only unmanaged experiments are supported: this master schedules no work; create the experiment with unmanaged: true',
    );
  }
  const parsed = parseExperimentConfig(req.config, defaultStorage);
  const db = deps.db.kysely;
  if (req.externalId !== undefined) {
    const existing = await db
      .selectFrom('experiments')
      .selectAll()
      .where('external_id', '=', req.externalId)
      .executeTakeFirst();
    if (existing !== undefined) {
      return existing;
    }
  }
  try {
    return await db
      .insertInto('experiments')
      .values({
        name: parsed.name,
        description: parsed.description,
        owner_id: actor.id,
        state: 'STATE_ACTIVE',
        config: JSON.stringify(parsed.config),
        original_config: req.config,
        searcher_name: parsed.searcherName,
        searcher_metric: parsed.searcherMetric,
        smaller_is_better: parsed.smallerIsBetter ? 1 : 0,
        unmanaged: 1,
        external_id: req.externalId ?? null,
        archived: 0,
        labels: JSON.stringify(parsed.labels),
        notes: '',
        start_time: deps.clock(),
        end_time: null,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
  } catch (err: unknown) {
    // Two replicas racing on the same external id: the loser returns the winner's row.
    if (req.externalId !== undefined) {
      const existing = await db
        .selectFrom('experiments')
        .selectAll()
        .where('external_id', '=', req.externalId)
        .executeTakeFirst();
      if (existing !== undefined) {
        return existing;
      }
    }
    throw err;
  }
}

/**
 * Recomputes an unmanaged experiment's state from its trials, as Determined does when a trial
 * of one ends: active while any trial is, otherwise ERROR, CANCELED or COMPLETED.
 */
export async function refreshExperimentState(
  db: Kysely<Database>,
  experimentId: number,
  now: number,
): Promise<void> {
  const trials = await db
    .selectFrom('trials')
    .select('state')
    .where('experiment_id', '=', experimentId)
    .execute();
  const terminal: readonly string[] = TERMINAL_TRIAL_STATES;
  const states = trials.map((t) => t.state);
  let state = 'STATE_ACTIVE';
  if (states.length > 0 && states.every((s) => terminal.includes(s))) {
    state = states.includes('STATE_ERROR')
      ? 'STATE_ERROR'
      : states.includes('STATE_CANCELED')
        ? 'STATE_CANCELED'
        : 'STATE_COMPLETED';
  }
  await db
    .updateTable('experiments')
    .set({ state, end_time: state === 'STATE_ACTIVE' ? null : now })
    .where('id', '=', experimentId)
    .where('state', '!=', state)
    .execute();
}

/** Per-experiment aggregates shown in listings. */
export interface ExperimentStats {
  trialIds: number[];
  checkpointCount: number;
  checkpointSize: number;
  /** Mean progress (0-1) of the trials that reported one, or null. */
  progress: number | null;
  /** The trial with the best searcher value in the experiment's direction (ties: lower id). */
  bestTrial: { id: number; value: number } | null;
}

/**
 * Aggregates for a page of experiments from the trials and the checkpoint counters only: no
 * checkpoint row is read, however many an experiment has.
 */
export async function experimentStats(
  db: Kysely<Database>,
  experiments: readonly ExperimentRow[],
): Promise<Map<number, ExperimentStats>> {
  const stats = new Map<number, ExperimentStats>();
  if (experiments.length === 0) {
    return stats;
  }
  const ids = experiments.map((e) => e.id);
  for (const id of ids) {
    stats.set(id, {
      trialIds: [],
      checkpointCount: 0,
      checkpointSize: 0,
      progress: null,
      bestTrial: null,
    });
  }
  const smallerIsBetter = new Map(experiments.map((e) => [e.id, e.smaller_is_better === 1]));
  const trials = await chunked(ids, (chunk) =>
    db
      .selectFrom('trials')
      .select(['id', 'experiment_id', 'progress', 'searcher_metric_value'])
      .where('experiment_id', 'in', chunk)
      .orderBy('id')
      .execute(),
  );
  const progress = new Map<number, number[]>();
  for (const t of trials) {
    const entry = stats.get(t.experiment_id);
    if (entry === undefined) {
      continue;
    }
    entry.trialIds.push(t.id);
    if (t.progress !== null) {
      progress.set(t.experiment_id, [...(progress.get(t.experiment_id) ?? []), t.progress]);
    }
    const value = t.searcher_metric_value;
    if (value !== null) {
      const best = entry.bestTrial;
      const smaller = smallerIsBetter.get(t.experiment_id) === true;
      if (best === null || (smaller ? value < best.value : value > best.value)) {
        entry.bestTrial = { id: t.id, value };
      }
    }
  }
  for (const [id, values] of progress) {
    const entry = stats.get(id);
    if (entry !== undefined) {
      entry.progress = values.reduce((a, b) => a + b, 0) / values.length;
    }
  }
  const sizes = await chunked(ids, (chunk) =>
    db
      .selectFrom('checkpoint_counts')
      .innerJoin('trials', 'trials.id', 'checkpoint_counts.trial_id')
      .select((eb) => [
        'trials.experiment_id',
        eb.fn.sum<number>('checkpoint_counts.n').as('n'),
        eb.fn.sum<number>('checkpoint_counts.bytes').as('bytes'),
      ])
      .where('trials.experiment_id', 'in', chunk)
      .where('checkpoint_counts.state', 'in', COUNTED_STATES)
      .groupBy('trials.experiment_id')
      .execute(),
  );
  for (const s of sizes) {
    const entry = stats.get(s.experiment_id);
    if (entry !== undefined) {
      entry.checkpointCount = Number(s.n);
      entry.checkpointSize = Number(s.bytes);
    }
  }
  return stats;
}

export function toExperimentDto(
  row: ExperimentRow,
  username: string,
  stats: ExperimentStats,
): ExperimentDto {
  const config = parseJsonObject(row.config);
  const hyperparameters = config.hyperparameters;
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    labels: JSON.parse(row.labels) as string[],
    startTime: encodeTimestamp(new Date(row.start_time)),
    ...(row.end_time === null ? {} : { endTime: encodeTimestamp(new Date(row.end_time)) }),
    state: row.state as ExperimentDto['state'],
    archived: row.archived === 1,
    numTrials: stats.trialIds.length,
    trialIds: stats.trialIds,
    displayName: '',
    userId: row.owner_id,
    username,
    resourcePool: '',
    searcherType: row.searcher_name,
    searcherMetric: row.searcher_metric,
    hyperparameters:
      hyperparameters !== null && typeof hyperparameters === 'object'
        ? (hyperparameters as JsonObject)
        : {},
    notes: row.notes,
    jobId: `experiment-${row.id}`,
    forkedFrom: null,
    progress: stats.progress,
    projectId: DEFAULT_PROJECT.id,
    projectName: DEFAULT_PROJECT.name,
    workspaceId: DEFAULT_PROJECT.workspaceId,
    workspaceName: DEFAULT_PROJECT.workspaceName,
    parentArchived: false,
    config,
    originalConfig: row.original_config,
    projectOwnerId: 1,
    checkpointSize: String(stats.checkpointSize),
    checkpointCount: stats.checkpointCount,
    ...(stats.bestTrial === null
      ? {}
      : {
          bestTrialSearcherMetric: encodeDouble(stats.bestTrial.value),
          bestTrialId: stats.bestTrial.id,
        }),
    unmanaged: row.unmanaged === 1,
    ...(row.external_id === null ? {} : { externalExperimentId: row.external_id }),
  };
}

/** Loads DTOs for experiment rows, with owner names and aggregates. */
export async function experimentDtos(
  deps: AppDeps,
  rows: readonly ExperimentRow[],
): Promise<ExperimentDto[]> {
  const db = deps.db.kysely;
  const stats = await experimentStats(db, rows);
  const ownerIds = [...new Set(rows.map((r) => r.owner_id))];
  const owners =
    ownerIds.length === 0
      ? []
      : await db
          .selectFrom('users')
          .select(['id', 'username'])
          .where('id', 'in', ownerIds)
          .execute();
  const names = new Map(owners.map((o) => [o.id, o.username]));
  return rows.map((row) => {
    const s = stats.get(row.id);
    if (s === undefined) {
      throw new HttpError('internal', `missing stats for experiment ${row.id}`);
    }
    return toExperimentDto(row, names.get(row.owner_id) ?? '', s);
  });
}
