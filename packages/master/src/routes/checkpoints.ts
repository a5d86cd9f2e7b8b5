import { CHECKPOINT_STATES, ROUTES } from '@determined-ts/api';
import { Hono } from 'hono';
import type { Context } from 'hono';
import { z } from 'zod';

import type { AppDeps, AppEnv } from '../context.js';
import { badRequest } from '../errors.js';
import {
  int32,
  int64,
  isUuid,
  jsonObject,
  parseEnum,
  pathUuid,
  queryEnum,
  queryInt,
  queryOne,
  readBody,
  timestamp,
} from '../http.js';
import { DELETABLE_STATES, bulkDelete } from '../services/bulk-delete.js';
import { checkpointDtos } from '../services/checkpoint-dto.js';
import { removeCheckpointFiles } from '../services/checkpoint-files.js';
import {
  getCheckpointRow,
  patchCheckpoints,
  replaceMetadata,
  reportCheckpoint,
} from '../services/checkpoints.js';
import {
  DEFAULT_URL_LIFETIME_S,
  MAX_URL_LIFETIME_S,
  checkpointDownloadUrls,
} from '../services/download-urls.js';
import { checkGroup } from '../services/metrics.js';
import {
  TRIAL_SOURCE_INFO_TYPES,
  reportTrialSourceInfo,
  sourceTrialMetrics,
} from '../services/trial-source-infos.js';
import type { TrialSourceInfoType } from '../services/trial-source-infos.js';

const uuid = z.string().refine(isUuid, 'expected a UUID');
const sizes = z.record(
  z.string(),
  int64.refine((n) => n >= 0, 'expected a size ≥ 0'),
);

const reportBody = z.object({
  uuid,
  taskId: z.string().min(1, 'taskId is required'),
  allocationId: z.string().nullish(),
  reportTime: timestamp.nullish(),
  state: z.union([z.string(), z.number()]).default('STATE_UNSPECIFIED'),
  resources: sizes.default({}),
  metadata: jsonObject.nullish(),
  training: z.unknown().optional(),
  storageId: z.number().int().positive().nullish(),
  digests: z.record(z.string(), z.string()).nullish(),
  crc32c: z.record(z.string(), z.string()).nullish(),
});

const positiveId = int32.refine((n) => n > 0, 'expected a positive id');
const bulkDeleteBody = z.object({
  checkpointUuids: z.array(uuid).max(10_000).default([]),
  experimentIds: z.array(positiveId).max(1000).default([]),
  trialIds: z.array(positiveId).max(10_000).default([]),
  states: z.array(z.enum(DELETABLE_STATES)).default([]),
  dryRun: z.boolean().default(false),
});

const trialSourceInfoBody = z.object({
  trialSourceInfo: z.object({
    trialId: int32,
    checkpointUuid: uuid,
    trialSourceInfoType: z.union([z.string(), z.number()]),
    modelId: int32.nullish(),
    modelVersion: int32.nullish(),
  }),
});

/** The `trialSourceInfoType` and `metricGroup` filters of the source-trial metrics routes. */
export function sourceFilter(c: Context): { type?: TrialSourceInfoType; group?: string } {
  const type = queryEnum(c, TRIAL_SOURCE_INFO_TYPES, 'trialSourceInfoType');
  const group = queryOne(c, 'metricGroup');
  if (group !== undefined && group !== '') {
    checkGroup(group);
  }
  return {
    ...(type === undefined ? {} : { type }),
    ...(group === undefined ? {} : { group }),
  };
}

export function checkpointRoutes(deps: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const db = deps.db.kysely;

  app.post(ROUTES.checkpoints, async (c) => {
    const body = await readBody(c, reportBody);
    await reportCheckpoint(deps, {
      uuid: body.uuid,
      taskId: body.taskId,
      allocationId: body.allocationId ?? null,
      reportTime: body.reportTime ?? undefined,
      state: parseEnum(CHECKPOINT_STATES, body.state, 'state'),
      resources: body.resources,
      metadata: body.metadata ?? {},
      storageId: body.storageId ?? null,
      digests: body.digests ?? null,
      crc32c: body.crc32c ?? null,
    });
    return c.json({});
  });

  app.patch(ROUTES.checkpoints, async (c) => {
    const body = await readBody(
      c,
      z.object({
        checkpoints: z.array(
          z.object({ uuid, resources: z.object({ resources: sizes.default({}) }).nullish() }),
        ),
      }),
    );
    await patchCheckpoints(
      deps,
      body.checkpoints.map((p) => ({ uuid: p.uuid, resources: p.resources?.resources })),
    );
    return c.json({});
  });

  app.delete(ROUTES.checkpoints, async (c) => {
    const body = await readBody(c, z.object({ checkpointUuids: z.array(uuid).min(1) }));
    await removeCheckpointFiles(deps, body.checkpointUuids, ['**'], { wholeCheckpoint: true });
    return c.json({});
  });

  app.post(ROUTES.checkpointsBulkDelete, async (c) => {
    const body = await readBody(c, bulkDeleteBody);
    return c.json(await bulkDelete(deps, body));
  });

  app.post(ROUTES.checkpointsRm, async (c) => {
    const body = await readBody(
      c,
      z.object({
        checkpointUuids: z.array(uuid).min(1),
        checkpointGlobs: z.array(z.string()).default([]),
      }),
    );
    await removeCheckpointFiles(deps, body.checkpointUuids, body.checkpointGlobs);
    return c.json({});
  });

  app.get(ROUTES.checkpoint, async (c) => {
    const [checkpoint] = await checkpointDtos(db, [await getCheckpointRow(deps, pathUuid(c))]);
    return c.json({ checkpoint });
  });

  // Our extension: URLs that read the checkpoint's objects from its store without credentials.
  app.get(ROUTES.checkpointDownloadUrls, async (c) => {
    const id = pathUuid(c);
    const lifetimeS = queryInt(c, 'expiresInSeconds', { min: 1 }) ?? DEFAULT_URL_LIFETIME_S;
    if (lifetimeS < 60 || lifetimeS > MAX_URL_LIFETIME_S) {
      throw badRequest(
        `invalid expiresInSeconds '${lifetimeS}': expected 60 to ${MAX_URL_LIFETIME_S} seconds`,
      );
    }
    return c.json(await checkpointDownloadUrls(deps, id, lifetimeS, c.req.raw.signal));
  });

  app.post(ROUTES.checkpointMetadata, async (c) => {
    const id = pathUuid(c);
    const body = await readBody(
      c,
      z.object({ checkpoint: z.object({ uuid: uuid.optional(), metadata: jsonObject.nullish() }) }),
    );
    if (body.checkpoint.uuid !== undefined && body.checkpoint.uuid.toLowerCase() !== id) {
      throw badRequest(`checkpoint.uuid ${body.checkpoint.uuid} does not match ${id} in the path`);
    }
    await replaceMetadata(deps, id, body.checkpoint.metadata ?? {});
    const [checkpoint] = await checkpointDtos(db, [await getCheckpointRow(deps, id)]);
    return c.json({ checkpoint });
  });

  // Metrics of inference or fine-tuning runs that used this checkpoint. This master records
  // none yet, so the list is empty once the checkpoint and the query are known to be valid.
  app.get(ROUTES.checkpointMetrics, async (c) => {
    const row = await getCheckpointRow(deps, pathUuid(c));
    const metrics = await sourceTrialMetrics(deps, { checkpointId: row.id }, sourceFilter(c));
    return c.json({ metrics });
  });

  app.post(ROUTES.trialSourceInfo, async (c) => {
    const { trialSourceInfo: info } = await readBody(c, trialSourceInfoBody);
    return c.json(
      await reportTrialSourceInfo(deps, {
        trialId: info.trialId,
        checkpointUuid: info.checkpointUuid,
        type: parseEnum(TRIAL_SOURCE_INFO_TYPES, info.trialSourceInfoType, 'trialSourceInfoType'),
        modelId: info.modelId,
        modelVersion: info.modelVersion,
      }),
    );
  });

  return app;
}
