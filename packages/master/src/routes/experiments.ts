import type { CheckpointState, JsonObject } from '@determined-ts/api';
import {
  CHECKPOINT_SORT_BY,
  CHECKPOINT_STATES,
  EXPERIMENT_SORT_BY,
  EXPERIMENT_STATES,
  ORDER_BY,
  ROUTES,
  TRIAL_SORT_BY,
  TRIAL_STATES,
} from '@determined-ts/api';
import { Hono } from 'hono';
import type { Context } from 'hono';
import { z } from 'zod';

import type { AppDeps, AppEnv } from '../context.js';
import { badRequest } from '../errors.js';
import {
  int32,
  parseEnum,
  pathId,
  queryAll,
  queryEnum,
  queryInt,
  queryOne,
  readBody,
} from '../http.js';
import { setGcPolicy } from '../services/checkpoint-gc.js';
import { checkpointDtos } from '../services/checkpoint-dto.js';
import { listCheckpoints } from '../services/checkpoint-list.js';
import { createExperiment, experimentDtos, getExperiment } from '../services/experiments.js';
import { listExperiments, listTrials } from '../services/listings.js';
import { trialDtos } from '../services/trials.js';

const createBody = z.object({
  config: z.string(),
  unmanaged: z.boolean().default(false),
  activate: z.boolean().optional(),
  projectId: z.number().optional(),
});

const policyCount = int32.refine((n) => n >= 0, 'expected a count ≥ 0').nullish();
/** Unknown keys are kept, to be refused by name. */
const patchBody = z.looseObject({
  id: int32.nullish(),
  checkpointStorage: z
    .object({
      saveExperimentBest: policyCount,
      saveTrialBest: policyCount,
      saveTrialLatest: policyCount,
    })
    .nullish(),
});

/** Reads `states` (repeatable) as checkpoint states. */
/** The longest experiment name filter accepted. */
const MAX_NAME_FILTER = 4096;

export function queryCheckpointStates(c: Context): CheckpointState[] {
  return queryAll(c, 'states').map((s) => parseEnum(CHECKPOINT_STATES, s, 'states'));
}

/** Reads the checkpoint listing query shared by the trial and experiment routes. */
export function checkpointListQuery(c: Context): {
  sortByAttr: (typeof CHECKPOINT_SORT_BY)[number] | undefined;
  sortByMetric: string | undefined;
  orderBy: (typeof ORDER_BY)[number] | undefined;
  states: CheckpointState[];
  offset: number;
  limit: number;
} {
  const sortByAttr = queryEnum(c, CHECKPOINT_SORT_BY, 'sortByAttr');
  const sortByMetric = queryOne(c, 'sortByMetric');
  if (
    sortByAttr !== undefined &&
    sortByAttr !== 'SORT_BY_UNSPECIFIED' &&
    sortByMetric !== undefined
  ) {
    throw badRequest('give sortByAttr or sortByMetric, not both');
  }
  const orderBy = queryEnum(c, ORDER_BY, 'orderBy');
  return {
    sortByAttr,
    sortByMetric: sortByMetric === '' ? undefined : sortByMetric,
    orderBy: orderBy === 'ORDER_BY_UNSPECIFIED' ? undefined : orderBy,
    states: queryCheckpointStates(c),
    offset: queryInt(c, 'offset') ?? 0,
    limit: queryInt(c, 'limit', { min: 0 }) ?? 0,
  };
}

export function experimentRoutes(deps: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const db = deps.db.kysely;
  const defaultStorage: JsonObject = deps.settings.defaultCheckpointStorage;

  const respond = async (c: Context<AppEnv>, row: Awaited<ReturnType<typeof getExperiment>>) => {
    const [experiment] = await experimentDtos(deps, [row]);
    return c.json({ experiment, config: experiment?.config ?? {} });
  };

  app.post(ROUTES.experiments, async (c) => {
    const body = await readBody(c, createBody);
    return respond(c, await createExperiment(deps, c.get('user'), body, defaultStorage));
  });

  // Idempotent create: the body is a bare CreateExperimentRequest.
  app.put(ROUTES.experimentByExternalId, async (c) => {
    // Never empty: the router only matches a non-empty segment.
    const externalId = c.req.param('externalExperimentId');
    const body = await readBody(c, createBody);
    return respond(
      c,
      await createExperiment(deps, c.get('user'), { ...body, externalId }, defaultStorage),
    );
  });

  app.get(ROUTES.experiments, async (c) => {
    const users = queryAll(c, 'users');
    for (const user of users) {
      if (user === '') {
        throw badRequest('invalid users: a username must not be empty');
      }
    }
    const name = queryOne(c, 'name');
    // SQLite refuses LIKE patterns past 50,000 bytes; no experiment name comes near this.
    if (name !== undefined && name.length > MAX_NAME_FILTER) {
      throw badRequest(`invalid name: a filter has at most ${MAX_NAME_FILTER} characters`);
    }
    const { rows, pagination } = await listExperiments(db, {
      sortBy: queryEnum(c, EXPERIMENT_SORT_BY, 'sortBy') ?? 'SORT_BY_ID',
      orderBy: queryEnum(c, ORDER_BY, 'orderBy'),
      name,
      states: queryAll(c, 'states').map((s) => parseEnum(EXPERIMENT_STATES, s, 'states')),
      users,
      offset: queryInt(c, 'offset') ?? 0,
      limit: queryInt(c, 'limit', { min: 0 }) ?? 0,
    });
    return c.json({ experiments: await experimentDtos(deps, rows), pagination });
  });

  // Determined's PATCH: only `checkpointStorage` (the GC policy) is taken; the SDK and CLI send
  // all three, and a missing one means 0 as upstream (proto3 int32 without presence).
  app.patch(ROUTES.experiment, async (c) => {
    const id = pathId(c, 'experimentId');
    const body = await readBody(c, patchBody);
    // Determined's clients patch name, description, notes, labels… through this route too: say
    // so rather than answer 200 for a change that was not made.
    const unsupported = Object.keys(body).filter((k) => k !== 'id' && k !== 'checkpointStorage');
    if (unsupported.length > 0) {
      throw badRequest(
        `this master changes only checkpointStorage (the GC policy) of an experiment, not ${unsupported.join(', ')}`,
      );
    }
    if (body.id != null && body.id !== id) {
      throw badRequest(`id ${body.id} in the body differs from ${id} in the path`);
    }
    const gc =
      body.checkpointStorage == null
        ? undefined
        : await setGcPolicy(deps, id, {
            saveExperimentBest: body.checkpointStorage.saveExperimentBest ?? 0,
            saveTrialBest: body.checkpointStorage.saveTrialBest ?? 0,
            saveTrialLatest: body.checkpointStorage.saveTrialLatest ?? 0,
          });
    const [experiment] = await experimentDtos(deps, [await getExperiment(deps, id)]);
    return c.json({ experiment, ...(gc === undefined ? {} : { gc }) });
  });

  app.get(ROUTES.experiment, async (c) =>
    respond(c, await getExperiment(deps, pathId(c, 'experimentId'))),
  );

  app.get(ROUTES.experimentTrials, async (c) => {
    const experiment = await getExperiment(deps, pathId(c, 'experimentId'));
    const { rows, pagination } = await listTrials(
      db,
      experiment,
      {
        sortBy: queryEnum(c, TRIAL_SORT_BY, 'sortBy') ?? 'SORT_BY_ID',
        orderBy: queryEnum(c, ORDER_BY, 'orderBy'),
        states: queryAll(c, 'states').map((s) => parseEnum(TRIAL_STATES, s, 'states')),
        offset: queryInt(c, 'offset') ?? 0,
        limit: queryInt(c, 'limit', { min: 0 }) ?? 0,
      },
      { dialect: deps.db.dialect, now: deps.clock() },
    );
    return c.json({ trials: await trialDtos(deps, rows), pagination });
  });

  app.get(ROUTES.experimentCheckpoints, async (c) => {
    const experiment = await getExperiment(deps, pathId(c, 'experimentId'));
    const { rows, pagination } = await listCheckpoints(
      db,
      deps.db.dialect,
      { experimentId: experiment.id },
      {
        ...checkpointListQuery(c),
        searcher: {
          metric: experiment.searcher_metric,
          smallerIsBetter: experiment.smaller_is_better === 1,
        },
      },
    );
    return c.json({ checkpoints: await checkpointDtos(db, rows), pagination });
  });

  return app;
}
