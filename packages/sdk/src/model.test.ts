// Determined, Model and ModelVersion (the Python SDK's `determined.experimental` surface) against
// the real master in-process, with checkpoints whose files are in directory storage; and a
// Model over a master that answers PATCH as Determined's does.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startDownloadMaster } from '../test/download-helpers.js';
import type { DownloadMaster } from '../test/download-helpers.js';
import type { ModelData } from './api/models.js';
import { Checkpoint } from './checkpoint.js';
import { createClient } from './client.js';
import { Determined } from './determined.js';
import { ApiError } from './errors.js';
import { Model } from './model.js';
import { ModelVersion } from './model-version.js';
import { TrialReference } from './trial-reference.js';

const SAFETENSORS = fileURLToPath(
  new URL('../../loaders/test/fixtures/safetensors/all_dtypes.safetensors', import.meta.url),
);

const failure = (p: Promise<unknown>): Promise<unknown> =>
  p.then(
    () => {
      throw new Error('expected a rejection');
    },
    (err: unknown) => err,
  );

describe('Determined, Model and ModelVersion', () => {
  let master: DownloadMaster;
  let det: Determined;

  beforeAll(async () => {
    master = await startDownloadMaster();
    det = new Determined({ client: master.client });
  });

  afterAll(async () => {
    await master.close();
  });

  /** A checkpoint with a small file, registered nowhere yet. */
  const seedSmall = async (content: string): Promise<Checkpoint> =>
    master.seed({ 'metadata.json': '{}', 'weights.bin': content });

  it('creates, finds and lists models', async () => {
    const created = await det.createModel('classifier', {
      description: 'd',
      labels: ['vision'],
      metadata: { team: 'a' },
    });
    expect(created).toBeInstanceOf(Model);
    expect(created).toMatchObject({ name: 'classifier', description: 'd', labels: ['vision'] });
    await det.createModel('Another');
    await det.createModel('bert', { labels: ['nlp', 'vision'] });

    expect((await det.getModel('classifier')).id).toBe(created.id);
    expect((await det.getModel(created.id)).name).toBe('classifier');
    // Sorted by name, as Determined's SDK asks.
    expect((await det.listModels()).map((m) => m.name)).toEqual(['Another', 'bert', 'classifier']);
    expect((await det.listModels({ labels: ['nlp'] })).map((m) => m.name)).toEqual(['bert']);
    expect(await det.getModelLabels()).toEqual(['vision', 'nlp']);
    const missing = await failure(det.getModel('nope'));
    expect(missing).toBeInstanceOf(ApiError);
    expect((missing as ApiError).status).toBe(404);
  });

  it('changes a model and keeps the object in step with the master', async () => {
    const model = await det.createModel('mutable', { metadata: { a: 1, b: 2 } });
    await model.addMetadata({ c: { nested: true } });
    expect(model.metadata).toEqual({ a: 1, b: 2, c: { nested: true } });
    await model.removeMetadata(['a', 'missing']);
    expect(model.metadata).toEqual({ b: 2, c: { nested: true } });
    await model.setLabels(['x', 'y']);
    await model.setDescription('described');
    await model.setNotes('# notes');
    await model.rename('renamed');
    await model.moveToWorkspace('Uncategorized');
    expect(model).toMatchObject({
      name: 'renamed',
      description: 'described',
      notes: '# notes',
      labels: ['x', 'y'],
      workspaceId: 1,
    });
    // The master's answer refreshed the object: a reload changes nothing.
    const snapshot = { ...model };
    await model.reload();
    expect({ ...model }).toEqual(snapshot);
    expect(model.lastUpdatedTime.getTime()).toBeGreaterThanOrEqual(model.creationTime.getTime());

    await model.archive();
    expect(model.archived).toBe(true);
    const refused = await failure(model.setDescription('no'));
    expect((refused as ApiError).status).toBe(400);
    expect(model.description).toBe('described');
    await model.unarchive();
    expect(model.archived).toBe(false);
    expect((await det.getModel(model.id)).archived).toBe(false);

    await model.delete();
    expect(((await failure(det.getModel(model.id))) as ApiError).status).toBe(404);
  });

  it('registers versions and gets them by number, latest and alias', async () => {
    const model = await det.createModel('versions');
    expect(await model.getVersion()).toBeNull();
    const first = await seedSmall('one');
    const second = await seedSmall('two');
    const v1 = await model.registerVersion(first.uuid, { name: 'first' });
    const v2 = await model.registerVersion(second.uuid);
    expect(v1).toBeInstanceOf(ModelVersion);
    expect(v1).toMatchObject({
      version: 1,
      name: 'first',
      modelId: model.id,
      modelName: 'versions',
    });
    expect(v2.checkpoint).toBeInstanceOf(Checkpoint);
    expect(v2.checkpoint.uuid).toBe(second.uuid);

    expect((await model.getVersion())?.version).toBe(2);
    expect((await model.getVersion(1)).id).toBe(v1.id);
    expect((await model.listVersions()).map((v) => v.version)).toEqual([2, 1]);
    expect(
      (await model.listVersions({ orderBy: 'asc', pageSize: 1 })).map((v) => v.version),
    ).toEqual([1, 2]);

    const alias = await model.setAlias('production', v1);
    expect(alias).toMatchObject({ alias: 'production', version: 1, modelVersionId: v1.id });
    expect((await model.getVersion('production')).id).toBe(v1.id);
    await model.setAlias('production', 2, { expectedVersion: 1 });
    await model.setAlias('canary', 2);
    const production = await model.getVersion('production');
    expect(production.version).toBe(2);
    expect(production.aliases).toEqual(['canary', 'production']);
    expect((await model.getVersion('latest')).version).toBe(2);
    expect((await model.aliases()).map((a) => `${a.alias}→${a.version}`)).toEqual([
      'canary→2',
      'production→2',
    ]);

    // An aliased version cannot be deleted until its aliases are gone.
    const blocked = await failure(production.delete());
    expect((blocked as ApiError).status).toBe(400);
    expect((blocked as ApiError).message).toMatch(/canary|production/);
    await model.removeAlias('canary');
    await model.removeAlias('production');
    expect(await model.aliases()).toEqual([]);
    expect((await model.aliasHistory()).map((e) => [e.alias, e.fromVersion, e.toVersion])).toEqual([
      ['production', 2, null],
      ['canary', 2, null],
      ['canary', null, 2],
      ['production', 1, 2],
      ['production', null, 1],
    ]);
    expect((await model.aliasHistory({ alias: 'canary' })).length).toBe(2);
    await production.delete();
    expect((await model.getVersion())?.version).toBe(1);
  });

  it('changes a version and keeps the object in step with the master', async () => {
    const model = await det.createModel('version-setters');
    const version = await model.registerVersion((await seedSmall('v')).uuid);
    await version.setName('named');
    await version.setComment('commented');
    await version.setNotes('noted');
    await version.setLabels(['a', 'a', 'b']);
    await version.setMetadata({ acc: 0.97 });
    expect(version).toMatchObject({
      name: 'named',
      comment: 'commented',
      notes: 'noted',
      labels: ['a', 'b'],
      metadata: { acc: 0.97 },
    });
    const before = version.checkpoint;
    await version.reload();
    expect(version).toMatchObject({ name: 'named', labels: ['a', 'b'] });
    expect(version.checkpoint).toEqual(before);
    await version.delete();
    expect(await model.getVersion()).toBeNull();
  });

  it("downloads and loads a version's checkpoint", async () => {
    const bytes = await readFile(SAFETENSORS);
    const checkpoint = await master.seed({
      'metadata.json': JSON.stringify({ framework: 'safetensors' }),
      'model.safetensors': bytes,
    });
    const model = await det.createModel('loadable');
    const registered = await model.registerVersion(checkpoint.uuid);
    await model.setAlias('production', registered.version);

    const version = await (await det.getModel('loadable')).getVersion('production');
    const dir = await version.checkpoint.download(join(master.workDir, 'production'));
    expect(await readFile(join(dir, 'model.safetensors'))).toEqual(bytes);
    const loaded = await version.checkpoint.load(dir);
    if (loaded.kind !== 'safetensors') {
      throw new Error(`loaded a ${loaded.kind}`);
    }
    expect(loaded.metadata).toEqual({ framework: 'safetensors' });
    expect([...loaded.tensors.keys()]).toContain('u8');
    const u8 = await loaded.tensors.get('u8')?.load();
    expect(u8?.toArray()).toEqual(Uint8Array.of(0, 7, 255));
  });

  it('hands out checkpoints and trials on the same session', async () => {
    const seeded = await seedSmall('c');
    const checkpoint = await det.getCheckpoint(seeded.uuid);
    expect(checkpoint.client).toBe(master.client);
    expect(checkpoint.uuid).toBe(seeded.uuid);
    const trialId = checkpoint.training?.trialId ?? 0;
    const trial = await det.getTrial(trialId);
    expect(trial).toBeInstanceOf(TrialReference);
    expect((await trial.selectCheckpoint({ uuid: seeded.uuid })).uuid).toBe(seeded.uuid);
    expect(await det.session()).toBe(master.client);
  });
});

describe('Model on a master that answers PATCH as Determined does', () => {
  const model: ModelData = {
    id: 7,
    name: 'resnet',
    description: '',
    notes: '',
    metadata: { keep: 1 },
    labels: [],
    creationTime: new Date('2025-03-20T10:00:01Z'),
    lastUpdatedTime: new Date('2025-03-20T10:05:00Z'),
    numVersions: 2,
    userId: 2,
    username: 'determined',
    workspaceId: 1,
    archived: false,
  };
  // Determined's PatchModel reply: the changed fields, and zeros in id, userId, numVersions...
  const zeros = {
    id: 0,
    name: 'renamed',
    description: 'new',
    notes: '',
    metadata: {},
    labels: [],
    creationTime: '2025-03-20T10:00:01Z',
    lastUpdatedTime: '2025-03-21T00:00:00Z',
    numVersions: 0,
    userId: 0,
    username: '',
    workspaceId: 0,
    archived: false,
  };

  it('updates only the changed fields, as Determined’s SDK, and re-reads a move', async () => {
    const bodies: unknown[] = [];
    const client = createClient({
      baseUrl: 'http://determined.test:8080',
      token: 't',
      fetch: (input, init) => {
        const route = `${init?.method ?? 'GET'} ${new URL(input).pathname}`;
        if (route === 'GET /api/v1/master') {
          return Promise.resolve(
            Response.json({ version: '0.38.1', masterId: 'm', clusterId: 'c' }),
          );
        }
        if (route === 'PATCH /api/v1/models/7') {
          bodies.push(JSON.parse(init?.body as string));
          return Promise.resolve(Response.json({ model: zeros }));
        }
        if (route === 'GET /api/v1/models/7') {
          return Promise.resolve(
            Response.json({ model: { ...zeros, id: 7, workspaceId: 1, userId: 2 } }),
          );
        }
        return Promise.resolve(Response.json({}, { status: 404 }));
      },
    });
    const m = new Model(model, client);
    await m.setDescription('new');
    await m.addMetadata({ added: true });
    expect(m).toMatchObject({
      id: 7,
      description: 'new',
      metadata: { keep: 1, added: true },
      numVersions: 2,
      userId: 2,
      username: 'determined',
      workspaceId: 1,
    });
    expect(bodies).toEqual([{ description: 'new' }, { metadata: { keep: 1, added: true } }]);
    await m.moveToWorkspace('Uncategorized');
    expect(m).toMatchObject({ id: 7, name: 'renamed', workspaceId: 1 });
  });
});
