import { ROUTES } from '@determined-ts/api';
import type { JsonObject } from '@determined-ts/api';
import { Hono } from 'hono';
import type { Context } from 'hono';

import type { AppDeps, AppEnv } from '../context.js';
import type { CheckpointRow } from '../db/schema.js';
import { badRequest } from '../errors.js';
import { pathId, queryInt } from '../http.js';
import { checkpointDtos } from '../services/checkpoint-dto.js';
import { selectForGc } from '../services/gc-selection.js';
import type { GcPolicy } from '../services/gc-selection.js';
import { parseJsonObject } from '../services/json.js';

/** The query parameters of `preview_gc`, all required, and the policy field each fills. */
const POLICY_PARAMS = [
  ['save_experiment_best', 'saveExperimentBest'],
  ['save_trial_best', 'saveTrialBest'],
  ['save_trial_latest', 'saveTrialLatest'],
] as const;

function readPolicy(c: Context): GcPolicy {
  const policy: GcPolicy = { saveExperimentBest: 0, saveTrialBest: 0, saveTrialLatest: 0 };
  for (const [param, field] of POLICY_PARAMS) {
    // Upstream accepts negatives as 0; we refuse them, as the PATCH does.
    const n = queryInt(c, param, { min: 0 });
    if (n === undefined) {
      throw badRequest(`missing parameter: ${param}`);
    }
    policy[field] = n;
  }
  return policy;
}

const sumBytes = (rows: readonly CheckpointRow[]): number =>
  rows.reduce((sum, r) => sum + r.size, 0);

/**
 * One entry of `checkpoints`: Determined's `checkpoints_view` row as plain Go JSON
 * (CapitalisedGoNames, numbers as numbers, states without `STATE_`), plus the pre-2022
 * `step.validation` on entries with a validation so that Determined's CLI prints its table.
 */
async function previewEntries(
  deps: AppDeps,
  experimentId: number,
  rows: CheckpointRow[],
): Promise<JsonObject[]> {
  const dtos = await checkpointDtos(deps.db.kysely, rows);
  return rows.map((row, i) => {
    const training = dtos[i]?.training;
    const validation = training?.validationMetrics.avgMetrics ?? null;
    return {
      ID: row.id,
      UUID: row.uuid,
      TaskID: row.task_id,
      AllocationID: row.allocation_id,
      ReportTime: new Date(row.report_time).toISOString(),
      State: row.state.replace(/^STATE_/, ''),
      Resources: parseJsonObject(row.resources),
      Metadata: parseJsonObject(row.metadata),
      Size: row.size,
      StorageID: row.storage_id,
      TrialID: row.trial_id,
      ExperimentID: experimentId,
      ExperimentConfig: training?.experimentConfig ?? null,
      HParams: training?.hparams ?? null,
      TrainingMetrics:
        training?.trainingMetrics.avgMetrics == null
          ? null
          : { avg_metrics: training.trainingMetrics.avgMetrics, batch_metrics: null },
      ValidationMetrics: validation,
      // Only finite values are stored here, so the answer is always valid JSON.
      SearcherMetric: row.searcher_metric,
      StepsCompleted: row.steps_completed,
      ...(validation === null
        ? {}
        : { step: { validation: { metrics: { validation_metrics: validation } } } }),
    };
  });
}

/**
 * `GET /experiments/{id}/preview_gc`: what a GC with the query's policy would delete (the same
 * selection the collection runs), and our `summary` of counts and bytes.
 */
export function gcRoutes(deps: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  app.get(ROUTES.experimentPreviewGc, async (c) => {
    const experimentId = pathId(c, 'experimentId');
    const policy = readPolicy(c);
    const selection = await selectForGc(deps, experimentId, policy);
    return c.json({
      metric_name: selection.metricName,
      checkpoints: await previewEntries(deps, experimentId, selection.toDelete),
      summary: {
        policy,
        deleteCount: selection.toDelete.length,
        deleteBytes: sumBytes(selection.toDelete),
        keepCount: selection.kept.length,
        keepBytes: sumBytes(selection.kept),
      },
    });
  });

  return app;
}
