import type { TrialLogDto } from '@determined-ts/api';
import {
  METRIC_GROUP_TRAINING,
  METRIC_GROUP_VALIDATION,
  ORDER_BY,
  ROUTES,
  TRIAL_STATES,
  encodeTimestamp,
} from '@determined-ts/api';
import { Hono } from 'hono';
import type { Context } from 'hono';
import { stream } from 'hono/streaming';
import { sql } from 'kysely';
import type { SqlBool } from 'kysely';
import { z } from 'zod';

import type { AppDeps, AppEnv } from '../context.js';
import { badRequest } from '../errors.js';
import {
  int32,
  int64,
  jsonObject,
  parseEnum,
  pathId,
  queryAll,
  queryEnum,
  queryInt,
  queryOne,
  readBody,
  timestamp,
} from '../http.js';
import { checkpointDtos } from '../services/checkpoint-dto.js';
import { listCheckpoints } from '../services/checkpoint-list.js';
import { normalizeStorageConfig } from '../services/config.js';
import { getExperiment } from '../services/experiments.js';
import { canonicalJson } from '../services/json.js';
import { checkGroup, iterMetrics, reportMetrics, toMetricsReportDto } from '../services/metrics.js';
import {
  createTrial,
  getTrial,
  patchTrialState,
  setTrialProgress,
  startTrial,
  trialDtos,
} from '../services/trials.js';
import { checkpointListQuery } from './experiments.js';

const createTrialBody = z.object({
  experimentId: int32,
  hparams: jsonObject.nullish(),
  unmanaged: z.boolean().default(false),
});

const trialMetrics = z.object({
  trialId: int32.optional(),
  trialRunId: int32,
  stepsCompleted: int32.refine((n) => n >= 0, 'must be ≥ 0').optional(),
  reportTime: timestamp.nullish(),
  metrics: z.object({
    avgMetrics: jsonObject,
    batchMetrics: z.array(jsonObject).nullish(),
  }),
});

// Built once: zod compiles a schema on its first parse, which costs more than a report.
const metricsBody = z.object({ group: z.string(), metrics: trialMetrics });

const trialEnum = z.union([z.string(), z.number()]);

/** Both the body's trialId (when given) and the path's must name the same trial. */
function sameTrial(pathIdValue: number, bodyId: number | undefined): void {
  if (bodyId !== undefined && bodyId !== 0 && bodyId !== pathIdValue) {
    throw badRequest(
      `trialId ${bodyId} in the body does not match trial ${pathIdValue} in the path`,
    );
  }
}

/** Writes an NDJSON stream of `{"result": ...}` lines, as grpc-gateway streams do. */
function ndjson(c: Context<AppEnv>, lines: AsyncIterable<unknown>): Response {
  c.header('Content-Type', 'application/json');
  return stream(c, async (s) => {
    for await (const line of lines) {
      await s.write(`${JSON.stringify({ result: line })}\n`);
    }
  });
}

export function trialRoutes(deps: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const db = deps.db.kysely;

  const trialJson = async (c: Context<AppEnv>, id: number) => {
    const [trial] = await trialDtos(deps, [await getTrial(deps, id)]);
    return c.json({ trial });
  };

  app.post(ROUTES.trials, async (c) => {
    const body = await readBody(c, createTrialBody);
    const row = await createTrial(deps, { ...body, hparams: body.hparams ?? {} });
    return trialJson(c, row.id);
  });

  app.put(ROUTES.trials, async (c) => {
    const body = await readBody(
      c,
      z.object({ createTrialRequest: createTrialBody, externalTrialId: z.string().min(1) }),
    );
    const row = await createTrial(deps, {
      ...body.createTrialRequest,
      hparams: body.createTrialRequest.hparams ?? {},
      externalId: body.externalTrialId,
    });
    return trialJson(c, row.id);
  });

  // Declared before `/trials/:trialId/...` so "metrics" is never read as a trial id.
  const streamMetrics = async (c: Context<AppEnv>, fixedGroup?: string) => {
    const ids = queryAll(c, 'trialIds').map((raw) => {
      if (!/^[1-9]\d{0,9}$/.test(raw)) {
        throw badRequest(`invalid trialIds '${raw}': expected positive integers`);
      }
      return Number(raw);
    });
    if (ids.length === 0) {
      throw badRequest('trialIds is required');
    }
    for (const id of ids) {
      await getTrial(deps, id);
    }
    const group = fixedGroup ?? queryOne(c, 'group') ?? queryOne(c, 'metricGroup');
    if (group !== undefined) {
      checkGroup(group);
    }
    const pages = async function* () {
      for await (const rows of iterMetrics(db, ids, group)) {
        yield { metrics: rows.map(toMetricsReportDto) };
      }
    };
    return ndjson(c, pages());
  };
  app.get(ROUTES.trialMetricsStream, (c) => streamMetrics(c));
  // The deprecated per-group streams older Determined SDKs call.
  app.get(ROUTES.trialTrainingMetricsStream, (c) => streamMetrics(c, METRIC_GROUP_TRAINING));
  app.get(ROUTES.trialValidationMetricsStream, (c) => streamMetrics(c, METRIC_GROUP_VALIDATION));

  app.get(ROUTES.trial, async (c) => trialJson(c, pathId(c, 'trialId')));

  app.post(ROUTES.trialStart, async (c) => {
    const id = pathId(c, 'trialId');
    const body = await readBody(
      c,
      z.object({ trialId: int32.optional(), resume: z.boolean().default(false) }),
    );
    sameTrial(id, body.trialId);
    return c.json(await startTrial(deps, id, body.resume));
  });

  app.patch(ROUTES.trial, async (c) => {
    const id = pathId(c, 'trialId');
    const body = await readBody(
      c,
      z.object({ trialId: int32.optional(), state: trialEnum.optional() }),
    );
    sameTrial(id, body.trialId);
    const state =
      body.state === undefined ? undefined : parseEnum(TRIAL_STATES, body.state, 'state');
    await patchTrialState(deps, id, state);
    return trialJson(c, id);
  });

  app.post(ROUTES.trialProgress, async (c) => {
    const id = pathId(c, 'trialId');
    const body = await readBody(
      c,
      z.object({
        trialId: int32.optional(),
        progress: z.number().min(0),
        isRaw: z.boolean().optional(),
      }),
    );
    sameTrial(id, body.trialId);
    await setTrialProgress(deps, id, body.progress);
    return c.json({});
  });

  const report = async (
    c: Context<AppEnv>,
    group: string,
    metrics: z.output<typeof trialMetrics>,
  ) => {
    const id = pathId(c, 'trialId');
    sameTrial(id, metrics.trialId);
    await reportMetrics(deps, {
      trialId: id,
      trialRunId: metrics.trialRunId,
      stepsCompleted: metrics.stepsCompleted ?? 0,
      reportTime: metrics.reportTime ?? undefined,
      group,
      avgMetrics: metrics.metrics.avgMetrics,
      batchMetrics: metrics.metrics.batchMetrics ?? null,
    });
    return c.json({});
  };

  app.post(ROUTES.trialMetrics, async (c) => {
    const body = await readBody(c, metricsBody);
    return report(c, body.group, body.metrics);
  });
  app.post(ROUTES.trialTrainingMetrics, async (c) =>
    report(c, METRIC_GROUP_TRAINING, await readBody(c, trialMetrics)),
  );
  app.post(ROUTES.trialValidationMetrics, async (c) =>
    report(c, METRIC_GROUP_VALIDATION, await readBody(c, trialMetrics)),
  );

  app.get(ROUTES.trialCheckpoints, async (c) => {
    const trial = await getTrial(deps, pathId(c, 'trialId'));
    const experiment = await getExperiment(deps, trial.experiment_id);
    const { rows, pagination } = await listCheckpoints(
      db,
      deps.db.dialect,
      { trialId: trial.id },
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

  // Determined's TrialLogs, as a stream: oldest first, or with orderBy=ORDER_BY_DESC newest
  // first (so `limit=200&orderBy=ORDER_BY_DESC` is the tail); searchText keeps the lines that
  // contain it, ignoring case (Determined's ILIKE), with `%` and `_` matched literally.
  app.get(ROUTES.trialLogs, async (c) => {
    const trial = await getTrial(deps, pathId(c, 'trialId'));
    const limit = queryInt(c, 'limit', { min: 0 }) ?? 0;
    const isNewestFirst = queryEnum(c, ORDER_BY, 'orderBy') === 'ORDER_BY_DESC';
    const searchText = queryOne(c, 'searchText') ?? '';
    const pattern = `%${searchText.replace(/[\\%_]/g, (ch) => `\\${ch}`)}%`;
    const pages = async function* () {
      let cursor: number | undefined;
      let left = limit === 0 ? Number.POSITIVE_INFINITY : limit;
      while (left > 0) {
        const rows = await db
          .selectFrom('task_logs')
          .selectAll()
          .where('trial_id', '=', trial.id)
          .$if(cursor !== undefined, (qb) => qb.where('id', isNewestFirst ? '<' : '>', cursor ?? 0))
          .$if(searchText !== '', (qb) =>
            qb.where(sql<SqlBool>`lower(log) like lower(${pattern}) escape '\\'`),
          )
          .orderBy('id', isNewestFirst ? 'desc' : 'asc')
          .limit(Math.min(1000, left))
          .execute();
        for (const row of rows) {
          yield {
            id: String(row.id),
            trialId: trial.id,
            timestamp: encodeTimestamp(new Date(row.timestamp)),
            message: row.log,
            level: 'LOG_LEVEL_INFO',
            log: row.log,
            ...(row.rank_id === null ? {} : { rankId: row.rank_id }),
            ...(row.stdtype === null ? {} : { stdtype: row.stdtype }),
          } satisfies TrialLogDto;
          cursor = row.id;
        }
        left -= rows.length;
        if (rows.length < 1000) {
          return;
        }
      }
    };
    return ndjson(c, pages());
  });

  // Registers the storage a run writes to and returns its id; identical configs share one id.
  app.post(ROUTES.runsStart, async (c) => {
    const body = await readBody(
      c,
      z.object({ runId: int64, checkpointStorage: jsonObject.nullish() }),
    );
    const trial = await getTrial(deps, body.runId);
    if (body.checkpointStorage === undefined || body.checkpointStorage === null) {
      return c.json({});
    }
    const config = canonicalJson(
      normalizeStorageConfig(body.checkpointStorage, 'checkpointStorage'),
    );
    await db
      .insertInto('storage_backends')
      .values({ config })
      .onConflict((oc) => oc.column('config').doNothing())
      .execute();
    const { id } = await db
      .selectFrom('storage_backends')
      .select('id')
      .where('config', '=', config)
      .executeTakeFirstOrThrow();
    await db.updateTable('trials').set({ storage_id: id }).where('id', '=', trial.id).execute();
    return c.json({ storageId: id });
  });

  return app;
}
