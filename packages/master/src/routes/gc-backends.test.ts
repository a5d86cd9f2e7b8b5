// GC by policy on every object store, against real protocol peers: s3rver (S3), azurite (Azure)
// and the storage package's fake GCS. What `preview_gc` lists is exactly what the PATCH deletes,
// object by object, and a store that refuses changes nothing.
import type { CheckpointDto, ExperimentDto } from '@determined-ts/api';
import type { S3Client } from '@aws-sdk/client-s3';
import { ContainerClient } from '@azure/storage-blob';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startAzurite } from '../../../storage/test/azurite.js';
import type { AzuriteHandle } from '../../../storage/test/azurite.js';
import { startFakeGcs } from '../../../storage/test/fake-gcs.js';
import type { FakeGcs } from '../../../storage/test/fake-gcs.js';
import { startS3rver, testS3Client } from '../../../storage/test/s3rver.js';
import type { S3rverHandle } from '../../../storage/test/s3rver.js';
import { GCS_BUCKET, azureBackend, gcsBackend } from '../../test/cloud.js';
import type { CloudBackend } from '../../test/cloud.js';
import {
  addTrial,
  call,
  reportCheckpoint,
  reportMetric,
  seedTrial,
  testUuid,
} from '../../test/flow.js';
import type { Seeded } from '../../test/flow.js';
import { endTrials } from '../../test/gc.js';
import { describeEachDialect } from '../../test/helpers.js';
import type { TestMaster } from '../../test/helpers.js';
import { BUCKET, listKeys, putCheckpoint, putObject, s3StorageYaml } from '../../test/s3.js';

interface GcAnswer {
  experiment: ExperimentDto;
  gc: {
    deleted: { uuid: string; bytes: number }[];
    failed: { uuid: string; error: string }[];
    freedBytes: number;
  };
}

interface Preview {
  checkpoints: { UUID: string; Size: number }[];
  summary: { deleteCount: number; deleteBytes: number; keepCount: number; keepBytes: number };
}

/** A store as these tests see it: the checkpoint layout, plus every object under a place. */
interface Backend extends CloudBackend {
  /** Every object under `place` (prefix or container), sorted. */
  listAll(place: string): Promise<string[]>;
  /** The master's environment for this store. */
  env(): Record<string, string>;
}

let s3rver: S3rverHandle;
let s3: S3Client;
let azurite: AzuriteHandle;
let gcs: FakeGcs;

beforeAll(async () => {
  [s3rver, azurite, gcs] = await Promise.all([startS3rver(), startAzurite(), startFakeGcs()]);
  s3 = testS3Client(s3rver.endpoint);
}, 60_000);

afterAll(async () => {
  s3?.destroy();
  await Promise.all([s3rver?.close(), azurite?.close(), gcs?.close()]);
});

/** S3 on s3rver: `place` is the prefix in the one bucket; the experiment carries the keys. */
function s3Backend(): Backend {
  return {
    type: 's3',
    storageYaml: (place) => s3StorageYaml(s3rver.endpoint, place),
    putCheckpoint: (place, uuid, files) => putCheckpoint(s3, place, uuid, files),
    putObject: (place, uuid, path, body) => putObject(s3, `${place}/${uuid}/${path}`, body),
    objectsOf: async (place, uuid) => {
      const base = `${place}/${uuid}/`;
      return (await listKeys(s3, base)).map((k) => k.slice(base.length));
    },
    location: (place, uuid) => `s3://${BUCKET}/${place}/${uuid}`,
    listAll: (place) => listKeys(s3, `${place}/`),
    env: () => ({}),
  };
}

function gcsWithListing(): Backend {
  return {
    ...gcsBackend(gcs),
    listAll: (place) =>
      Promise.resolve(
        gcs
          .names(GCS_BUCKET)
          .filter((n) => n.startsWith(`${place}/`))
          .sort(),
      ),
    env: () => ({ STORAGE_EMULATOR_HOST: gcs.endpoint }),
  };
}

function azureWithListing(): Backend {
  return {
    ...azureBackend(azurite),
    listAll: async (place) => {
      const container = new ContainerClient(azurite.connectionString, place);
      const names: string[] = [];
      for await (const blob of container.listBlobsFlat()) {
        names.push(blob.name);
      }
      return names.sort();
    },
    env: () => ({}),
  };
}

const BACKENDS: [string, () => Backend][] = [
  ['s3 (s3rver)', s3Backend],
  ['azure (azurite)', azureWithListing],
  ['gcs (fake GCS)', gcsWithListing],
];

/** A fresh prefix or container name (lower case, as Azure wants). */
const freshPlace = (): string => `gc-${testUuid().slice(-12)}`;

/** A checkpoint's files: sizes differ by `n`, so the bytes freed say which were deleted. */
function filesOf(n: number): Record<string, Buffer> {
  return {
    'metadata.json': Buffer.from(`{"steps_completed": ${n * 100}}`),
    'model.bin': Buffer.alloc(1000 * n + 7, n),
    'sub/opt.bin': Buffer.alloc(10 * n, 255 - n),
  };
}

interface Experiment {
  s: Seeded;
  /** `A@100`, `A@200`, `B@100`, `B@200` → uuid. */
  ids: Record<string, string>;
  /** uuid → the objects it has in the store, relative to it. */
  objects: Map<string, string[]>;
}

/**
 * One experiment on `backend` (validation_loss, smaller is better), two trials with two
 * checkpoints each, objects in the store and a validation at each checkpoint's steps:
 * A@100 0.5, A@200 0.2 (the best), B@100 0.4, B@200 0.3.
 */
async function experimentOn(
  m: TestMaster,
  backend: Backend,
  place: string,
  storageYaml = backend.storageYaml(place),
): Promise<Experiment> {
  const a = await seedTrial(m, { storage: storageYaml });
  const b = await addTrial(m, a);
  const ids: Record<string, string> = {};
  const objects = new Map<string, string[]>();
  const plan: [string, Seeded, number, number][] = [
    ['A@100', a, 100, 0.5],
    ['A@200', a, 200, 0.2],
    ['B@100', b, 100, 0.4],
    ['B@200', b, 200, 0.3],
  ];
  for (const [i, [label, trial, steps, loss]] of plan.entries()) {
    m.now.ms += 1000;
    const uuid = testUuid();
    const resources = await backend.putCheckpoint(place, uuid, filesOf(i + 1));
    await reportCheckpoint(m, trial, steps, { uuid, resources });
    await reportMetric(m, trial, 'validation', steps, { validation_loss: loss });
    ids[label] = uuid;
    objects.set(uuid, Object.keys(resources).sort());
  }
  await endTrials(m, a.experimentId);
  return { s: a, ids, objects };
}

/** Keeps the experiment's single best checkpoint (A@200) and nothing else. */
const POLICY = { saveExperimentBest: 1, saveTrialBest: 0, saveTrialLatest: 0 };
const PREVIEW_QUERY = 'save_experiment_best=1&save_trial_best=0&save_trial_latest=0';

async function preview(m: TestMaster, e: Experiment): Promise<Preview> {
  return call<Preview>(
    m,
    e.s.token,
    'GET',
    `/experiments/${e.s.experimentId}/preview_gc?${PREVIEW_QUERY}`,
  );
}

async function setPolicy(m: TestMaster, e: Experiment): Promise<GcAnswer> {
  return call<GcAnswer>(m, e.s.token, 'PATCH', `/api/v1/experiments/${e.s.experimentId}`, {
    id: e.s.experimentId,
    checkpointStorage: POLICY,
  });
}

async function getCheckpoint(m: TestMaster, e: Experiment, uuid: string): Promise<CheckpointDto> {
  return (
    await call<{ checkpoint: CheckpointDto }>(m, e.s.token, 'GET', `/api/v1/checkpoints/${uuid}`)
  ).checkpoint;
}

/**
 * A checkpoint as GET shows it, less the experiment's config in `training`: that holds the
 * policy, which the PATCH saves whatever the store does.
 */
async function checkpointAsStored(m: TestMaster, e: Experiment, uuid: string): Promise<unknown> {
  const { training, ...rest } = await getCheckpoint(m, e, uuid);
  const { experimentConfig: _config, ...trainingRest } = training;
  return { ...rest, training: trainingRest };
}

/** Every object of the experiment's checkpoints, as `<uuid>/<path>`, sorted. */
function allObjects(e: Experiment, uuids: readonly string[]): string[] {
  return uuids.flatMap((u) => (e.objects.get(u) ?? []).map((p) => `${u}/${p}`)).sort();
}

/** `listAll`'s names relative to the place (S3 and GCS keys start with the prefix). */
async function storeContents(backend: Backend, place: string): Promise<string[]> {
  const names = await backend.listAll(place);
  return backend.type === 'azure' ? names : names.map((n) => n.slice(place.length + 1));
}

describeEachDialect('GC by policy on object stores', ({ master }) => {
  describe.each(BACKENDS)('%s', (_name, backendOf) => {
    it('deletes exactly what preview_gc lists, objects and all, and keeps the rest intact', async () => {
      const backend = backendOf();
      const m = master();
      m.deps.settings.storageEnv = backend.env();
      const place = freshPlace();
      const e = await experimentOn(m, backend, place);
      const every = Object.values(e.ids);
      expect(await storeContents(backend, place)).toEqual(allObjects(e, every));

      const planned = await preview(m, e);
      const previewed = planned.checkpoints.map((c) => c.UUID).sort();
      const kept = e.ids['A@200'] ?? '';
      expect(previewed).toEqual(every.filter((u) => u !== kept).sort());
      expect(planned.summary).toMatchObject({ deleteCount: 3, keepCount: 1 });
      expect(planned.summary.deleteBytes).toBe(
        planned.checkpoints.reduce((sum, c) => sum + c.Size, 0),
      );
      expect(planned.summary.deleteBytes).toBeGreaterThan(0);

      const { gc, experiment } = await setPolicy(m, e);
      expect(gc.failed).toEqual([]);
      expect(gc.deleted.map((d) => d.uuid).sort()).toEqual(previewed);
      expect(gc.freedBytes).toBe(planned.summary.deleteBytes);
      expect(gc.deleted.reduce((sum, d) => sum + d.bytes, 0)).toBe(gc.freedBytes);
      expect(experiment.config).toMatchObject({
        checkpoint_storage: {
          type: backend.type,
          save_experiment_best: 1,
          save_trial_best: 0,
          save_trial_latest: 0,
        },
      });

      // The store holds the kept checkpoint's objects and nothing else.
      expect(await storeContents(backend, place)).toEqual(allObjects(e, [kept]));
      for (const uuid of previewed) {
        expect(await backend.objectsOf(place, uuid), uuid).toEqual([]);
        const got = await getCheckpoint(m, e, uuid);
        expect([got.state, got.resources], uuid).toEqual(['STATE_DELETED', {}]);
      }
      const survivor = await getCheckpoint(m, e, kept);
      expect(survivor.state).toBe('STATE_COMPLETED');
      expect(Object.keys(survivor.resources).sort()).toEqual(e.objects.get(kept));
      expect(await backend.objectsOf(place, kept)).toEqual(e.objects.get(kept));

      // Collected already: the same policy finds nothing more, and the preview agrees.
      expect((await preview(m, e)).summary).toMatchObject({ deleteCount: 0, deleteBytes: 0 });
      expect((await setPolicy(m, e)).gc).toEqual({ deleted: [], failed: [], freedBytes: 0 });
    });
  });

  describe.each(BACKENDS)('%s: storage reconcile', (_name, backendOf) => {
    it('finds orphans under the root, deletes them only with apply, and leaves the rest', async () => {
      const backend = backendOf();
      const m = master();
      m.deps.settings.storageEnv = backend.env();
      // Objects carry real times: the master's clock runs a minute ahead of them.
      m.now.ms = Date.now() + 60_000;
      const place = freshPlace();
      const e = await experimentOn(m, backend, place);
      // Stored but never reported (a Core API upload whose report never came), and stored but
      // DELETED in the database while the objects stayed (what Determined's GC can leave).
      const unreported = testUuid();
      const unreportedObjects = Object.keys(
        await backend.putCheckpoint(place, unreported, filesOf(5)),
      );
      const forgotten = e.ids['B@100'] ?? '';
      await m.deps.db.kysely
        .updateTable('checkpoints')
        .set({ state: 'STATE_DELETED' })
        .where('uuid', '=', forgotten)
        .execute();
      // Not named like a checkpoint: never ours to judge.
      await backend.putObject(place, 'notes', 'readme.txt', Buffer.from('keep me'));
      const bytesOf = (files: Record<string, Buffer>) =>
        Object.values(files).reduce((sum, b) => sum + b.length, 0);
      const admin = await m.login('admin');
      const reconcile = (body: object) =>
        call<{
          orphans: { storage: string; uuid: string; bytes: number }[];
          storageErrors: unknown[];
          applied: { orphansDeleted: number; bytesFreed: number } | null;
        }>(m, admin, 'POST', '/api/v1/storage/reconcile', body);

      // Within the grace period nothing is an orphan: the objects were just written.
      expect((await reconcile({ graceSeconds: 3600 })).orphans).toEqual([]);
      const dry = await reconcile({ graceSeconds: 0 });
      expect(dry.storageErrors).toEqual([]);
      expect(dry.orphans.map((o) => [o.uuid, o.bytes]).sort()).toEqual(
        [
          [unreported, bytesOf(filesOf(5))],
          [forgotten, bytesOf(filesOf(3))],
        ].sort(),
      );
      expect(dry.orphans.map((o) => o.storage)).toEqual([
        expect.stringContaining(place),
        expect.stringContaining(place),
      ]);
      expect(dry.applied).toBeNull();
      const before = await storeContents(backend, place);
      expect(before.filter((n) => n.startsWith(`${unreported}/`))).toHaveLength(
        unreportedObjects.length,
      );

      const applied = await reconcile({ graceSeconds: 0, apply: true });
      expect(applied.applied).toMatchObject({
        orphansDeleted: 2,
        bytesFreed: bytesOf(filesOf(5)) + bytesOf(filesOf(3)),
      });
      const live = Object.values(e.ids).filter((u) => u !== forgotten);
      expect(await storeContents(backend, place)).toEqual(
        [...allObjects(e, live), 'notes/readme.txt'].sort(),
      );
      expect((await reconcile({ graceSeconds: 0 })).orphans).toEqual([]);
    });
  });

  it('leaves every checkpoint as it was when S3 refuses the credentials, naming each and why', async () => {
    const m = master();
    const backend = s3Backend();
    const place = freshPlace();
    // The objects are uploaded with good keys; the experiment's config holds a key s3rver does
    // not know, so every request the master makes is refused.
    const refusedYaml = `{type: s3, bucket: ${BUCKET}, prefix: ${place}, endpoint_url: "${s3rver.endpoint}", access_key: NOT-A-KEY, secret_key: wrong}`;
    const e = await experimentOn(m, backend, place, refusedYaml);
    const every = Object.values(e.ids);
    const before = await Promise.all(every.map((u) => checkpointAsStored(m, e, u)));
    const planned = await preview(m, e);
    const previewed = planned.checkpoints.map((c) => c.UUID).sort();
    expect(previewed).toHaveLength(3);

    const { gc } = await setPolicy(m, e);
    expect(gc.deleted).toEqual([]);
    expect(gc.freedBytes).toBe(0);
    expect(gc.failed.map((f) => f.uuid).sort()).toEqual(previewed);
    for (const { uuid, error } of gc.failed) {
      expect(error).toContain(
        `the master cannot delete files of checkpoint ${uuid} from ${backend.location(place, uuid)}`,
      );
      expect(error).toContain('access denied');
      expect(error).toContain('403 InvalidAccessKeyId');
    }
    expect(await storeContents(backend, place)).toEqual(allObjects(e, every));
    expect(await Promise.all(every.map((u) => checkpointAsStored(m, e, u)))).toEqual(before);
    expect(await m.deps.db.kysely.selectFrom('checkpoint_deletions').selectAll().execute()).toEqual(
      [],
    );
    // Nothing was collected, so the preview still lists the same three.
    expect((await preview(m, e)).checkpoints.map((c) => c.UUID).sort()).toEqual(previewed);
  });
});
