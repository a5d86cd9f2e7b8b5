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
import { sql } from 'kysely';
import type { SqlBool } from 'kysely';
import { z } from 'zod';

import type { AppDeps, AppEnv } from '../context.js';
import { badRequest } from '../errors.js';
import { parseEnum, pathId, queryAll, queryEnum, queryInt, queryOne, readBody } from '../http.js';
import { checkpointDtos } from '../services/checkpoint-dto.js';
import { listCheckpoints, paginate } from '../services/checkpoint-list.js';
import { createExperiment, experimentDtos, getExperiment } from '../services/experiments.js';
import { trialDtos } from '../services/trials.js';

const createBody = z.object({
  config: z.string(),
  unmanaged: z.boolean().default(false),
  activate: z.boolean().optional(),
  projectId: z.number().optional(),
});

/** Reads `states` (repeatable) as checkpoint states. */
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
    const sortBy = queryEnum(c, EXPERIMENT_SORT_BY, 'sortBy') ?? 'SORT_BY_ID';
    const orderBy = queryEnum(c, ORDER_BY, 'orderBy');
    const direction = orderBy === 'ORDER_BY_DESC' ? 'desc' : 'asc';
    const name = queryOne(c, 'name');
    const states = queryAll(c, 'states').map((s) => parseEnum(EXPERIMENT_STATES, s, 'states'));
    let base = db.selectFrom('experiments');
    if (name !== undefined && name !== '') {
      // A case-insensitive substring match on both databases; LIKE wildcards match literally.
      const pattern = `%${name.replace(/[\\%_]/g, (ch) => `\\${ch}`)}%`;
      base = base.where(sql<SqlBool>`lower(name) like lower(${pattern}) escape '\\'`);
    }
    if (states.length > 0) {
      base = base.where('state', 'in', states);
    }
    const { n } = await base
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    const pagination = paginate(
      queryInt(c, 'offset') ?? 0,
      queryInt(c, 'limit', { min: 0 }) ?? 0,
      Number(n),
    );
    const column = {
      SORT_BY_UNSPECIFIED: 'id',
      SORT_BY_ID: 'id',
      SORT_BY_DESCRIPTION: 'description',
      SORT_BY_START_TIME: 'start_time',
      SORT_BY_END_TIME: 'end_time',
      SORT_BY_STATE: 'state',
      SORT_BY_NUM_TRIALS: 'id',
      SORT_BY_PROGRESS: 'id',
      SORT_BY_USER: 'owner_id',
      SORT_BY_NAME: 'name',
    } as const satisfies Record<(typeof EXPERIMENT_SORT_BY)[number], string>;
    const rows = await base
      .selectAll()
      .orderBy(column[sortBy], direction)
      .orderBy('id', direction)
      .limit(pagination.endIndex - pagination.startIndex)
      .offset(pagination.startIndex)
      .execute();
    return c.json({ experiments: await experimentDtos(deps, rows), pagination });
  });

  app.get(ROUTES.experiment, async (c) =>
    respond(c, await getExperiment(deps, pathId(c, 'experimentId'))),
  );

  app.get(ROUTES.experimentTrials, async (c) => {
    const experiment = await getExperiment(deps, pathId(c, 'experimentId'));
    const sortBy = queryEnum(c, TRIAL_SORT_BY, 'sortBy') ?? 'SORT_BY_ID';
    const orderBy = queryEnum(c, ORDER_BY, 'orderBy');
    const states = queryAll(c, 'states').map((s) => parseEnum(TRIAL_STATES, s, 'states'));
    let base = db.selectFrom('trials').where('experiment_id', '=', experiment.id);
    if (states.length > 0) {
      base = base.where('state', 'in', states);
    }
    const { n } = await base
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    const pagination = paginate(
      queryInt(c, 'offset') ?? 0,
      queryInt(c, 'limit', { min: 0 }) ?? 0,
      Number(n),
    );
    const direction = orderBy === 'ORDER_BY_DESC' ? 'desc' : 'asc';
    const column =
      sortBy === 'SORT_BY_START_TIME'
        ? 'start_time'
        : sortBy === 'SORT_BY_END_TIME'
          ? 'end_time'
          : sortBy === 'SORT_BY_STATE'
            ? 'state'
            : sortBy === 'SORT_BY_BATCHES_PROCESSED'
              ? 'total_batches'
              : sortBy === 'SORT_BY_RESTARTS'
                ? 'restarts'
                : 'id';
    const rows = await base
      .selectAll()
      .orderBy(sql.ref(column), direction)
      .orderBy('id', direction)
      .limit(pagination.endIndex - pagination.startIndex)
      .offset(pagination.startIndex)
      .execute();
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
