import type { CompareTrialsResponse } from '@determined-ts/api';
import {
  METRIC_GROUP_TRAINING,
  METRIC_GROUP_VALIDATION,
  METRIC_TYPES,
  ROUTES,
} from '@determined-ts/api';
import { Hono } from 'hono';
import type { Context } from 'hono';

import type { AppDeps, AppEnv } from '../context.js';
import { badRequest, notFound } from '../errors.js';
import { pathId, queryAll, queryEnum, queryInt, queryOne } from '../http.js';
import {
  DEFAULT_MAX_MARKERS,
  MAX_MARKERS,
  checkpointMarkers,
} from '../services/checkpoint-markers.js';
import { getExperiment } from '../services/experiments.js';
import { checkGroup } from '../services/metrics.js';
import { MAX_DATAPOINTS, sampleSeries } from '../services/time-series.js';
import type { SeriesQuery } from '../services/time-series.js';
import { getTrial, trialDtos } from '../services/trials.js';

/** Most trials one time-series request may name. */
const MAX_TRIALS = 1000;

/** A non-negative int32 query parameter within [min, max], or a 400 naming it. */
function boundedInt(
  c: Context,
  name: string,
  { min, max }: { min: number; max: number },
): number | undefined {
  const value = queryInt(c, name, { min: 0 });
  if (value !== undefined && (value < min || value > max)) {
    throw badRequest(`invalid ${name} '${value}': expected an integer from ${min} to ${max}`);
  }
  return value;
}

/** The metric groups a request names: `group`, or Determined's deprecated `metricType`. */
function requestedGroups(c: Context): string[] {
  const group = queryOne(c, 'group');
  const type = queryEnum(c, METRIC_TYPES, 'metricType');
  const legacy =
    type === 'METRIC_TYPE_TRAINING'
      ? METRIC_GROUP_TRAINING
      : type === 'METRIC_TYPE_VALIDATION'
        ? METRIC_GROUP_VALIDATION
        : undefined;
  if (type === 'METRIC_TYPE_PROFILING') {
    throw badRequest(
      'invalid metricType METRIC_TYPE_PROFILING: this master keeps no profiling metrics',
    );
  }
  if (group !== undefined && group !== '' && legacy !== undefined) {
    throw badRequest('give group or metricType, not both');
  }
  const chosen = group !== undefined && group !== '' ? group : legacy;
  if (chosen === undefined) {
    return [METRIC_GROUP_TRAINING, METRIC_GROUP_VALIDATION];
  }
  checkGroup(chosen);
  return [chosen];
}

function parseSeriesQuery(c: Context): { trialIds: number[]; query: SeriesQuery } {
  const trialIds = [
    ...new Set(
      queryAll(c, 'trialIds').map((raw) => {
        if (!/^[1-9]\d{0,9}$/.test(raw) || Number(raw) > 2 ** 31 - 1) {
          throw badRequest(`invalid trialIds '${raw}': expected positive integers`);
        }
        return Number(raw);
      }),
    ),
  ];
  if (trialIds.length === 0) {
    throw badRequest('trialIds is required');
  }
  if (trialIds.length > MAX_TRIALS) {
    throw badRequest(`invalid trialIds: at most ${MAX_TRIALS} trials per request`);
  }
  const maxDatapoints = boundedInt(c, 'maxDatapoints', { min: 1, max: MAX_DATAPOINTS });
  if (maxDatapoints === undefined) {
    throw badRequest('maxDatapoints is required');
  }
  const metricNames = [...new Set(queryAll(c, 'metricNames'))];
  if (metricNames.includes('')) {
    throw badRequest('invalid metricNames: a metric name must not be empty');
  }
  if (metricNames.length > 1000) {
    throw badRequest('invalid metricNames: at most 1000 names per request');
  }
  const startBatches = boundedInt(c, 'startBatches', { min: 0, max: 2 ** 31 - 1 }) ?? 0;
  // As Determined: an endBatches of 0 means no upper bound.
  const endBatches = boundedInt(c, 'endBatches', { min: 0, max: 2 ** 31 - 1 }) || undefined;
  if (endBatches !== undefined && endBatches < startBatches) {
    throw badRequest(`invalid endBatches '${endBatches}': less than startBatches ${startBatches}`);
  }
  return {
    trialIds,
    query: { groups: requestedGroups(c), metricNames, maxDatapoints, startBatches, endBatches },
  };
}

/** The routes the web UI draws trial charts from; mounted before `/api/v1/trials/:trialId`. */
export function trialChartRoutes(deps: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const db = deps.db.kysely;

  // Determined's CompareTrials: per trial, one downsampled series per metric group that has
  // reports (groups without any are left out, as Determined does).
  app.get(ROUTES.trialsTimeSeries, async (c) => {
    const { trialIds, query } = parseSeriesQuery(c);
    const rows = await db.selectFrom('trials').selectAll().where('id', 'in', trialIds).execute();
    const byId = new Map(rows.map((r) => [r.id, r]));
    const missing = trialIds.find((id) => !byId.has(id));
    if (missing !== undefined) {
      throw notFound('trial', missing);
    }
    const ordered = trialIds.flatMap((id) => byId.get(id) ?? []);
    const dtos = await trialDtos(deps, ordered);
    const body: CompareTrialsResponse = { trials: [] };
    for (const [i, row] of ordered.entries()) {
      const trial = dtos[i];
      if (trial === undefined) {
        continue;
      }
      const metrics = [];
      for (const group of [...query.groups].sort()) {
        const series = await sampleSeries(db, deps.db.dialect, row.id, group, query);
        if (series !== undefined) {
          metrics.push(series);
        }
      }
      body.trials.push({ trial, metrics });
    }
    return c.json(body);
  });

  app.get(ROUTES.trialCheckpointMarkers, async (c) => {
    const trial = await getTrial(deps, pathId(c, 'trialId'));
    const maxMarkers =
      boundedInt(c, 'maxMarkers', { min: 1, max: MAX_MARKERS }) ?? DEFAULT_MAX_MARKERS;
    const experiment = await getExperiment(deps, trial.experiment_id);
    return c.json(
      await checkpointMarkers(
        db,
        deps.db.dialect,
        { id: trial.id, smallerIsBetter: experiment.smaller_is_better === 1 },
        maxMarkers,
      ),
    );
  });

  return app;
}
