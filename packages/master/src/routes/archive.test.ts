import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

import { afterEach, expect, it } from 'vitest';

import { bytes, digestTree, digestsOf, extractArchive as extract } from '../../test/archives.js';
import { call, seedTrial, testUuid } from '../../test/flow.js';
import type { Seeded } from '../../test/flow.js';
import { describeEachDialect } from '../../test/helpers.js';
import type { TestMaster } from '../../test/helpers.js';

const FILES: Record<string, Buffer> = {
  'metadata.json': Buffer.from('{"steps_completed": 10, "framework": "torch-2.3.0"}'),
  'model.bin': bytes(300_001, 1),
  'empty.txt': Buffer.alloc(0),
  'sub/a.txt': Buffer.from('alpha\n'),
  'sub/dir/deep.bin': bytes(513, 2),
  'sub/dir/spaced name.txt': Buffer.from('spaces are fine'),
};

const scratch: string[] = [];
afterEach(() => {
  for (const dir of scratch.splice(0)) {
    rmSync(dir, { recursive: true, force: true });
  }
});

function scratchDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'archive-route-'));
  scratch.push(dir);
  return dir;
}

/**
 * Writes FILES into `dir`, plus what an archive must leave out: a link to a file outside the
 * checkpoint, a link to a directory, and an empty directory. Returns `resources` as the SDK
 * reports them.
 */
function writeCheckpoint(dir: string): Record<string, string> {
  const resources: Record<string, string> = {};
  for (const [name, data] of Object.entries(FILES)) {
    const path = join(dir, name);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, data);
    resources[name] = String(data.length);
  }
  resources['sub/'] = '0';
  resources['sub/dir/'] = '0';
  const outside = join(dirname(dir), `outside-${testUuid()}.txt`);
  writeFileSync(outside, 'secret');
  symlinkSync(outside, join(dir, 'link.txt'));
  symlinkSync(join(dir, 'sub'), join(dir, 'sub-link'));
  mkdirSync(join(dir, 'empty-dir'));
  return resources;
}

const EXPECTED = digestsOf(FILES);

async function reportStored(
  m: TestMaster,
  s: Seeded,
  root: string,
  extra: Record<string, unknown> = {},
): Promise<{ uuid: string; dir: string }> {
  const uuid = testUuid();
  const dir = join(root, uuid);
  mkdirSync(dir, { recursive: true });
  const resources = writeCheckpoint(dir);
  await call(m, s.token, 'POST', '/api/v1/checkpoints', {
    uuid,
    taskId: s.taskId,
    reportTime: new Date(m.now.ms).toISOString(),
    state: 'STATE_COMPLETED',
    resources,
    metadata: { steps_completed: 10 },
    ...extra,
  });
  return { uuid, dir };
}

async function download(
  m: TestMaster,
  uuid: string,
  headers: Record<string, string>,
  token?: string,
): Promise<Response> {
  return m.request('GET', `/checkpoints/${uuid}`, { headers, token });
}

describeEachDialect('checkpoint archive', ({ master }) => {
  for (const [accept, format, type] of [
    ['application/x-tar', 'tar', 'application/x-tar'],
    ['application/gzip', 'tgz', 'application/gzip'],
    ['application/zip', 'zip', 'application/zip'],
    ['*/*', 'tar', 'application/x-tar'],
    [undefined, 'tar', 'application/x-tar'],
    ['application/*', 'tar', 'application/x-tar'],
    ['application/gzip; q=1.0', 'tgz', 'application/gzip'],
  ] as const) {
    it(`streams the regular files as ${format} for Accept ${accept ?? '(none)'}`, async () => {
      const m = master();
      const s = await seedTrial(m);
      const { uuid } = await reportStored(m, s, m.storageDir);
      const res = await download(m, uuid, accept === undefined ? {} : { accept }, s.token);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe(type);
      const body = Buffer.from(await res.arrayBuffer());
      if (format === 'tar') {
        expect(res.headers.get('content-length')).toBe(String(body.length));
      }
      const { names, files } = extract(body, format);
      // Regular files only: no links, no directories, names relative to the checkpoint.
      expect(names.sort()).toEqual(Object.keys(FILES).sort());
      expect(files).toEqual(EXPECTED);
    });
  }

  it('lets the Python SDK extract the gzip stream with tarfile', async () => {
    const m = master();
    const s = await seedTrial(m);
    const { uuid } = await reportStored(m, s, m.storageDir);
    const res = await download(m, uuid, { accept: 'application/gzip' }, s.token);
    const dir = scratchDir();
    const file = join(dir, 'a.tgz');
    writeFileSync(file, Buffer.from(await res.arrayBuffer()));
    const out = join(dir, 'out');
    // As `Checkpoint.download` in MASTER mode does: tarfile.open(fileobj=...).extractall().
    execFileSync('/usr/bin/python3', [
      '-c',
      'import sys, tarfile\nwith open(sys.argv[1], "rb") as f:\n  t = tarfile.open(fileobj=f, mode="r|*")\n  t.extractall(sys.argv[2])',
      file,
      out,
    ]);
    expect(digestTree(out)).toEqual(EXPECTED);
  });

  it('serves shared_fs storage from host_path and storage_path', async () => {
    const m = master();
    const host = join(m.storageDir, 'shared');
    const s = await seedTrial(m, {
      storage: `{type: shared_fs, host_path: ${host}, storage_path: ckpts}`,
    });
    const { uuid } = await reportStored(m, s, join(host, 'ckpts'));
    const res = await download(m, uuid, { accept: 'application/zip' }, s.token);
    expect(res.status).toBe(200);
    expect(extract(Buffer.from(await res.arrayBuffer()), 'zip').files).toEqual(EXPECTED);
  });

  it('serves the storage a run registered, not the experiment default', async () => {
    const m = master();
    const s = await seedTrial(m);
    const runStorage = join(m.storageDir, 'run-storage');
    const { storageId } = await call<{ storageId: number }>(
      m,
      s.token,
      'POST',
      '/api/v1/runs/start',
      {
        runId: s.trialId,
        checkpointStorage: { type: 'directory', container_path: runStorage },
      },
    );
    const { uuid } = await reportStored(m, s, runStorage, { storageId });
    const res = await download(m, uuid, {}, s.token);
    expect(res.status).toBe(200);
    expect(extract(Buffer.from(await res.arrayBuffer()), 'tar').files).toEqual(EXPECTED);
  });

  it('serves what remains of a partially deleted checkpoint', async () => {
    const m = master();
    const s = await seedTrial(m);
    const { uuid } = await reportStored(m, s, m.storageDir);
    await call(m, s.token, 'POST', '/api/v1/checkpoints/rm', {
      checkpointUuids: [uuid],
      checkpointGlobs: ['**/*.bin'],
    });
    const res = await download(m, uuid, { accept: 'application/x-tar' }, s.token);
    expect(res.status).toBe(200);
    const { files } = extract(Buffer.from(await res.arrayBuffer()), 'tar');
    expect(files).toEqual(
      Object.fromEntries(Object.entries(EXPECTED).filter(([n]) => !n.endsWith('.bin'))),
    );
  });

  it('accepts the auth cookie and refuses a request without credentials', async () => {
    const m = master();
    const s = await seedTrial(m);
    const { uuid } = await reportStored(m, s, m.storageDir);
    const withCookie = await download(m, uuid, { cookie: `other=1; auth=${s.token}` });
    expect(withCookie.status).toBe(200);
    expect(extract(Buffer.from(await withCookie.arrayBuffer()), 'tar').files).toEqual(EXPECTED);
    const anonymous = await download(m, uuid, {});
    expect(anonymous.status).toBe(401);
    expect(((await anonymous.json()) as { message: string }).message).toBeTruthy();
    const badCookie = await download(m, uuid, { cookie: 'auth=not-a-token' });
    expect(badCookie.status).toBe(401);
  });

  it('answers 415 for an Accept it cannot serve', async () => {
    const m = master();
    const s = await seedTrial(m);
    const { uuid } = await reportStored(m, s, m.storageDir);
    for (const accept of ['application/json', 'text/html', 'application/x-7z-compressed']) {
      const res = await download(m, uuid, { accept }, s.token);
      expect(res.status, accept).toBe(415);
      expect(((await res.json()) as { message: string }).message).toContain(accept);
    }
  });

  it('refuses a deleted checkpoint', async () => {
    const m = master();
    const s = await seedTrial(m);
    const { uuid } = await reportStored(m, s, m.storageDir);
    await call(m, s.token, 'DELETE', '/api/v1/checkpoints', { checkpointUuids: [uuid] });
    const res = await download(m, uuid, {}, s.token);
    expect(res.status).toBe(400);
    const body = (await res.json()) as { message: string; error: { reason: string } };
    expect(body.error.reason).toBe('FailedPrecondition');
    expect(body.message).toContain('STATE_DELETED');
  });

  it('answers 404 when the files are not on disk, or the checkpoint is unknown', async () => {
    const m = master();
    const s = await seedTrial(m);
    const uuid = testUuid();
    await call(m, s.token, 'POST', '/api/v1/checkpoints', {
      uuid,
      taskId: s.taskId,
      state: 'STATE_COMPLETED',
      resources: { 'model.bin': '5' },
      metadata: { steps_completed: 1 },
    });
    const missing = await download(m, uuid, {}, s.token);
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { message: string }).message).toContain(uuid);
    const unknown = testUuid();
    const res = await download(m, unknown, {}, s.token);
    expect(res.status).toBe(404);
    expect(((await res.json()) as { message: string }).message).toBe(
      `checkpoint '${unknown}' not found`,
    );
    expect((await download(m, 'not-a-uuid', {}, s.token)).status).toBe(400);
  });

  it('refuses storage whose config it cannot use, saying why', async () => {
    const m = master();
    const s = await seedTrial(m, {
      storage: '{type: shared_fs, host_path: /tmp, storage_path: ../etc}',
    });
    const uuid = testUuid();
    await call(m, s.token, 'POST', '/api/v1/checkpoints', {
      uuid,
      taskId: s.taskId,
      state: 'STATE_COMPLETED',
      resources: { 'model.bin': '5' },
      metadata: { steps_completed: 1 },
    });
    const res = await download(m, uuid, { accept: 'application/gzip' }, s.token);
    expect(res.status).toBe(400);
    expect(((await res.json()) as { message: string }).message).toBe(
      'checkpoint download via master is not possible: shared_fs storage_path ../etc must be ' +
        'a subdirectory of host_path /tmp',
    );
  });

  it("picks the archive from a browser's Accept: q-values honoured, q=0 excludes, wildcards mean tar", async () => {
    const m = master();
    const s = await seedTrial(m);
    const { uuid } = await reportStored(m, s, m.storageDir);
    const browser = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';
    const cases: [string, string | 415][] = [
      [browser, 'application/x-tar'],
      ['application/zip;q=0.9, application/gzip;q=0.5', 'application/zip'],
      ['application/gzip, application/zip', 'application/gzip'],
      ['*/*;q=0.1, application/gzip', 'application/gzip'],
      ['application/x-tar;q=0, */*', 'application/gzip'],
      ['application/*;q=0.5, application/zip', 'application/zip'],
      ['APPLICATION/ZIP; charset=binary', 'application/zip'],
      ['text/html, application/*;q=0', 415],
      ['application/zip;q=0, text/html', 415],
      ['*/*;q=0', 415],
      ['application/zip;q=lots', 415],
      ['garbage', 415],
    ];
    for (const [accept, want] of cases) {
      const res = await download(m, uuid, { accept }, s.token);
      if (want === 415) {
        expect(res.status, accept).toBe(415);
        expect(((await res.json()) as { message: string }).message).toContain(
          `unsupported Accept '${accept}'`,
        );
        continue;
      }
      expect(res.status, accept).toBe(200);
      expect(res.headers.get('content-type'), accept).toBe(want);
      expect(res.headers.get('vary')).toBe('Accept');
      await res.arrayBuffer();
    }
    // What a browser link sends, with the session cookie: the whole tar.
    const res = await download(m, uuid, { accept: browser, cookie: `auth=${s.token}` });
    expect(res.status).toBe(200);
    expect(extract(Buffer.from(await res.arrayBuffer()), 'tar').files).toEqual(EXPECTED);
  });

  it('lets ?format= choose the archive over Accept, with ETag and Range as before', async () => {
    const m = master();
    const s = await seedTrial(m);
    const { uuid } = await reportStored(m, s, m.storageDir);
    const get = (query: string, headers: Record<string, string> = {}, method = 'GET') =>
      m.request(method, `/checkpoints/${uuid}${query}`, {
        token: s.token,
        headers: { accept: 'text/html', ...headers },
      });
    for (const [format, type, name, kind] of [
      ['tar', 'application/x-tar', 'tar', 'tar'],
      ['tar.gz', 'application/gzip', 'tar.gz', 'tgz'],
      ['tgz', 'application/gzip', 'tar.gz', 'tgz'],
      ['zip', 'application/zip', 'zip', 'zip'],
      ['ZIP', 'application/zip', 'zip', 'zip'],
    ] as const) {
      const res = await get(`?format=${format}`);
      expect(res.status, format).toBe(200);
      expect(res.headers.get('content-type')).toBe(type);
      expect(res.headers.get('content-disposition')).toBe(`attachment; filename="${uuid}.${name}"`);
      expect(extract(Buffer.from(await res.arrayBuffer()), kind).files).toEqual(EXPECTED);
    }
    const plain = await download(m, uuid, {}, s.token);
    const whole = Buffer.from(await plain.arrayBuffer());
    const etag = plain.headers.get('etag');
    expect(etag).toMatch(/^"/);
    const head = await get('?format=tar', {}, 'HEAD');
    expect([head.status, head.headers.get('etag'), head.headers.get('content-length')]).toEqual([
      200,
      etag,
      String(whole.length),
    ]);
    const part = await get('?format=tar', { range: 'bytes=100-199', 'if-range': etag ?? '' });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe(`bytes 100-199/${whole.length}`);
    expect(Buffer.from(await part.arrayBuffer())).toEqual(whole.subarray(100, 200));
    const bad = await get('?format=rar', { accept: 'application/x-tar' });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { message: string }).message).toBe(
      "invalid format 'rar': expected tar, tar.gz, tgz or zip",
    );
  });
});
