import type { MetricsReportDto } from '@determined-ts/api';
import { sql } from 'kysely';

import type { AppDeps } from '../context.js';
import { badRequest } from '../errors.js';
import { getCheckpointRow } from './checkpoints.js';
import { toMetricsReportDto } from './metrics.js';
import { findModel } from './models.js';
import { findVersion } from './model-versions.js';
import { getTrial } from './trials.js';

export const TRIAL_SOURCE_INFO_TYPES = [
  'TRIAL_SOURCE_INFO_TYPE_UNSPECIFIED',
  'TRIAL_SOURCE_INFO_TYPE_INFERENCE',
  'TRIAL_SOURCE_INFO_TYPE_FINE_TUNING',
] as const;
export type TrialSourceInfoType = (typeof TRIAL_SOURCE_INFO_TYPES)[number];

export interface TrialSourceInfo {
  trialId: number;
  checkpointUuid: string;
  type: TrialSourceInfoType;
  modelId?: number | null;
  modelVersion?: number | null;
}

/**
 * `POST /api/v1/trial-source-info`: records that a trial (inference, fine-tuning) used a
 * checkpoint, or a model version's checkpoint, so that what the trial reports shows up in
 * `GET …/checkpoints/{uuid}/metrics` and `GET …/versions/{v}/metrics`. Reporting the same trial
 * and checkpoint again replaces the link, as upstream.
 */
export async function reportTrialSourceInfo(
  deps: AppDeps,
  info: TrialSourceInfo,
): Promise<{ trialId: number; checkpointUuid: string }> {
  if (info.type === 'TRIAL_SOURCE_INFO_TYPE_UNSPECIFIED') {
    throw badRequest(
      'invalid trialSourceInfoType: expected TRIAL_SOURCE_INFO_TYPE_INFERENCE or TRIAL_SOURCE_INFO_TYPE_FINE_TUNING',
    );
  }
  if ((info.modelId == null) !== (info.modelVersion == null)) {
    throw badRequest('modelId and modelVersion go together: give both or neither');
  }
  const db = deps.db.kysely;
  const trial = await getTrial(deps, info.trialId);
  const checkpoint = await getCheckpointRow(deps, info.checkpointUuid.toLowerCase());
  let modelVersionId: number | null = null;
  if (info.modelId != null && info.modelVersion != null) {
    const ident = String(info.modelId);
    const model = await findModel(db, ident);
    const version = await findVersion(
      db,
      model,
      { kind: 'number', version: info.modelVersion },
      ident,
    );
    if (version.checkpoint_id !== checkpoint.id) {
      throw badRequest(
        `checkpoint ${checkpoint.uuid} is not the checkpoint of version ${version.version} of model "${model.name}"`,
      );
    }
    modelVersionId = version.id;
  }
  const values = { model_version_id: modelVersionId, type: info.type };
  await db
    .insertInto('trial_source_infos')
    .values({ trial_id: trial.id, checkpoint_id: checkpoint.id, ...values })
    .onConflict((oc) => oc.columns(['trial_id', 'checkpoint_id']).doUpdateSet(values))
    .execute();
  return { trialId: trial.id, checkpointUuid: checkpoint.uuid };
}

/** Determined returns at most this many reports per linked trial. */
const REPORTS_PER_TRIAL = 1000;

/**
 * The metrics reported by the trials linked to a checkpoint or a model version, optionally of
 * one link type and one metric group: each trial's oldest reports first, at most 1,000 each.
 */
export async function sourceTrialMetrics(
  deps: AppDeps,
  source: { checkpointId: number } | { modelVersionId: number },
  filter: { type?: TrialSourceInfoType; group?: string },
): Promise<MetricsReportDto[]> {
  const db = deps.db.kysely;
  let links = db.selectFrom('trial_source_infos').select('trial_id');
  links =
    'checkpointId' in source
      ? links.where('checkpoint_id', '=', source.checkpointId)
      : links.where('model_version_id', '=', source.modelVersionId);
  if (filter.type !== undefined && filter.type !== 'TRIAL_SOURCE_INFO_TYPE_UNSPECIFIED') {
    links = links.where('type', '=', filter.type);
  }
  const trials = await links.orderBy('trial_id').execute();
  const reports: MetricsReportDto[] = [];
  for (const { trial_id: trialId } of trials) {
    let query = db
      .selectFrom('metrics')
      .selectAll()
      .where('trial_id', '=', trialId)
      .where('archived', '=', sql.lit(0));
    if (filter.group !== undefined && filter.group !== '') {
      query = query.where('metric_group', '=', filter.group);
    }
    const rows = await query.orderBy('id').limit(REPORTS_PER_TRIAL).execute();
    reports.push(...rows.map(toMetricsReportDto));
  }
  return reports;
}
