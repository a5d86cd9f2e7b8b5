import { ROUTES } from '@determined-ts/api';
import type { JsonObject } from '@determined-ts/api';

import type { Client } from '../client.js';
import { array, fail, int, object, string } from '../decode-fields.js';
import { ArgumentError } from '../errors.js';
import type { CheckpointState } from '../models.js';

/** How many checkpoints an experiment keeps (its `checkpoint_storage.save_*` settings). */
export interface GcPolicy {
  /** The N best checkpoints over all trials, by the searcher metric. */
  saveExperimentBest: number;
  /** The N best checkpoints of each trial. */
  saveTrialBest: number;
  /** The N latest checkpoints of each trial, by steps completed. */
  saveTrialLatest: number;
}

/** One checkpoint a policy would delete, as `previewGc` lists it. */
export interface GcCheckpoint {
  uuid: string;
  trialId: number;
  /** `undefined` when the checkpoint recorded no steps. */
  stepsCompleted: number | undefined;
  state: CheckpointState;
  /** The sum of its files' sizes. */
  sizeBytes: number;
  /** The searcher metric of the validation at the same step, if there was one. */
  searcherMetric: number | undefined;
}

/** What a policy would delete and what it would keep, in checkpoints and bytes. */
export interface GcSummary {
  deleteCount: number;
  deleteBytes: number;
  /** `undefined` from a master that does not say (Determined's). */
  keepCount: number | undefined;
  keepBytes: number | undefined;
}

export interface GcPreview {
  /** The searcher metric the ranking uses. */
  metricName: string;
  /** The checkpoints the policy would delete, by trial then report time. */
  checkpoints: GcCheckpoint[];
  summary: GcSummary;
}

/** What a collection did, checkpoint by checkpoint: it never stops halfway. */
export interface GcResult {
  deleted: { uuid: string; bytes: number }[];
  /** Checkpoints left as they were (their files could not be removed), with the reason. */
  failed: { uuid: string; error: string }[];
  freedBytes: number;
}

const STATES: readonly CheckpointState[] = [
  'UNSPECIFIED',
  'ACTIVE',
  'COMPLETED',
  'ERROR',
  'DELETED',
  'PARTIALLY_DELETED',
];

function checkPolicy(policy: GcPolicy): void {
  for (const key of ['saveExperimentBest', 'saveTrialBest', 'saveTrialLatest'] as const) {
    const n = policy[key];
    if (!Number.isSafeInteger(n) || n < 0) {
      throw new ArgumentError(key, `${key} must be a non-negative integer, got ${String(n)}`);
    }
  }
}

/** A JSON number, or Determined's spelling of a non-finite one (`"NaN"`, `"Infinity"`). */
function optionalNumber(value: unknown, field: string): number | undefined {
  if (value === undefined || value === null) {
    return undefined;
  }
  if (typeof value === 'number') {
    return value;
  }
  if (value === 'NaN' || value === 'Infinity' || value === '-Infinity') {
    return Number(value);
  }
  return fail(field, 'a number or null', value);
}

function decodeGcCheckpoint(value: unknown, field: string): GcCheckpoint {
  const c = object(value, field);
  // preview_gc is plain Go JSON: CapitalisedGoNames, and states without `STATE_`.
  const state = c.State;
  if (typeof state !== 'string' || !(STATES as readonly string[]).includes(state)) {
    fail(`${field}.State`, `one of ${STATES.join(', ')}`, state);
  }
  const steps = c.StepsCompleted;
  return {
    uuid: string(c.UUID, `${field}.UUID`),
    trialId: int(c.TrialID, `${field}.TrialID`),
    stepsCompleted:
      steps === undefined || steps === null ? undefined : int(steps, `${field}.StepsCompleted`),
    state: state as CheckpointState,
    sizeBytes: int(c.Size, `${field}.Size`),
    searcherMetric: optionalNumber(c.SearcherMetric, `${field}.SearcherMetric`),
  };
}

function decodeSummary(value: unknown, checkpoints: GcCheckpoint[]): GcSummary {
  if (value === undefined) {
    // Determined's master sends no summary, and lists already DELETED checkpoints again.
    const live = checkpoints.filter((c) => c.state !== 'DELETED');
    return {
      deleteCount: live.length,
      deleteBytes: live.reduce((sum, c) => sum + c.sizeBytes, 0),
      keepCount: undefined,
      keepBytes: undefined,
    };
  }
  const s = object(value, 'summary');
  return {
    deleteCount: int(s.deleteCount, 'summary.deleteCount'),
    deleteBytes: int(s.deleteBytes, 'summary.deleteBytes'),
    keepCount: int(s.keepCount, 'summary.keepCount'),
    keepBytes: int(s.keepBytes, 'summary.keepBytes'),
  };
}

function decodePreview(res: JsonObject): GcPreview {
  // Determined's master answers `null` when nothing is selected.
  const listed = res.checkpoints === null ? [] : array(res.checkpoints, 'checkpoints');
  const checkpoints = listed.map((c, i) => decodeGcCheckpoint(c, `checkpoints[${i}]`));
  return {
    metricName: string(res.metric_name, 'metric_name'),
    checkpoints,
    summary: decodeSummary(res.summary, checkpoints),
  };
}

/** Decodes a GC outcome; `field` names it in errors (`gc`, or `` for a whole answer). */
export function decodeGcResult(value: unknown, field: string): GcResult {
  const gc = object(value, field || 'answer');
  const at = (name: string): string => (field === '' ? name : `${field}.${name}`);
  return {
    deleted: array(gc.deleted, at('deleted')).map((d, i) => {
      const entry = object(d, at(`deleted[${i}]`));
      return {
        uuid: string(entry.uuid, at(`deleted[${i}].uuid`)),
        bytes: int(entry.bytes, at(`deleted[${i}].bytes`)),
      };
    }),
    failed: array(gc.failed, at('failed')).map((f, i) => {
      const entry = object(f, at(`failed[${i}]`));
      return {
        uuid: string(entry.uuid, at(`failed[${i}].uuid`)),
        error: string(entry.error, at(`failed[${i}].error`)),
      };
    }),
    freedBytes: int(gc.freedBytes, at('freedBytes')),
  };
}

/**
 * What `policy` would delete from an experiment, without deleting anything
 * (`GET /experiments/:id/preview_gc`). On our master it is exactly what `setGcPolicy` with the
 * same policy deletes.
 */
export async function previewGc(
  client: Client,
  experimentId: number,
  policy: GcPolicy,
  options: { signal?: AbortSignal } = {},
): Promise<GcPreview> {
  checkPolicy(policy);
  return client.request(
    'GET',
    ROUTES.experimentPreviewGc.replace(':experimentId', String(experimentId)),
    {
      query: {
        save_experiment_best: policy.saveExperimentBest,
        save_trial_best: policy.saveTrialBest,
        save_trial_latest: policy.saveTrialLatest,
      },
      signal: options.signal,
      decode: decodePreview,
    },
  );
}

/**
 * Saves an experiment's checkpoint retention policy and deletes, for good, the checkpoints it no
 * longer keeps (`PATCH /api/v1/experiments/:id`). Returns what was deleted and what could not
 * be; `undefined` from a master that collects in the background and does not say
 * (Determined's, which also collects with the policy as it was before the change).
 */
export async function setGcPolicy(
  client: Client,
  experimentId: number,
  policy: GcPolicy,
  options: { signal?: AbortSignal } = {},
): Promise<GcResult | undefined> {
  checkPolicy(policy);
  return client.request('PATCH', ROUTES.experiment.replace(':experimentId', String(experimentId)), {
    body: {
      id: experimentId,
      checkpointStorage: {
        saveExperimentBest: policy.saveExperimentBest,
        saveTrialBest: policy.saveTrialBest,
        saveTrialLatest: policy.saveTrialLatest,
      },
    },
    signal: options.signal,
    decode: (res) => {
      object(res.experiment, 'experiment');
      return res.gc === undefined ? undefined : decodeGcResult(res.gc, 'gc');
    },
  });
}
