// Our CRC32C extension of checkpoint reports: `crc32c: {path: "<8 lowercase hex>"}` beside
// the sha256 `digests`, checked, stored, returned and kept in step with `resources`.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

import type { CheckpointDto } from '@determined-ts/api';
import { expect, it } from 'vitest';

import { expectError } from '../../test/expect-error.js';
import { call, seedTrial, testUuid } from '../../test/flow.js';
import type { Seeded } from '../../test/flow.js';
import { describeEachDialect } from '../../test/helpers.js';
import type { TestMaster } from '../../test/helpers.js';

const RESOURCES = { 'model.bin': '5', 'sub/': '0', 'sub/x.txt': '1', 'extra.txt': '3' };

function report(s: Seeded, uuid: string, extra: Record<string, unknown> = {}) {
  return {
    uuid,
    taskId: s.taskId,
    state: 'STATE_COMPLETED',
    resources: RESOURCES,
    metadata: { steps_completed: 10 },
    ...extra,
  };
}

async function getCheckpoint(m: TestMaster, s: Seeded, uuid: string): Promise<CheckpointDto> {
  return (
    await call<{ checkpoint: CheckpointDto }>(m, s.token, 'GET', `/api/v1/checkpoints/${uuid}`)
  ).checkpoint;
}

describeEachDialect('checkpoint crc32c', ({ master }) => {
  it('stores crc32c checksums and returns them on the checkpoint and in listings', async () => {
    const m = master();
    const s = await seedTrial(m);
    const uuid = testUuid();
    const crc32c = { 'model.bin': '0a1b2c3d', 'sub/x.txt': 'ffffffff' };
    await call(m, s.token, 'POST', '/api/v1/checkpoints', report(s, uuid, { crc32c }));
    expect((await getCheckpoint(m, s, uuid)).crc32c).toEqual(crc32c);
    const listed = await call<{ checkpoints: CheckpointDto[] }>(
      m,
      s.token,
      'GET',
      `/api/v1/trials/${s.trialId}/checkpoints`,
    );
    expect(listed.checkpoints[0]?.crc32c).toEqual(crc32c);
    // Without crc32c (null, or left out) the field is absent.
    for (const extra of [{ crc32c: null }, {}]) {
      const plain = testUuid();
      await call(m, s.token, 'POST', '/api/v1/checkpoints', report(s, plain, extra));
      expect('crc32c' in (await getCheckpoint(m, s, plain))).toBe(false);
    }
  });

  it('rejects crc32c for unknown paths, directories or bad hex, naming the path', async () => {
    const m = master();
    const s = await seedTrial(m);
    for (const [crc32c, fragment] of [
      [{ 'other.bin': '0a1b2c3d' }, "crc32c given for 'other.bin', which is not a file"],
      [{ 'sub/': '0a1b2c3d' }, "crc32c given for 'sub/', which is not a file"],
      [{ toString: '0a1b2c3d' }, "crc32c given for 'toString'"],
      [{ 'model.bin': '0A1B2C3D' }, "invalid crc32c for 'model.bin'"],
      [{ 'model.bin': '0a1b2c3' }, "invalid crc32c for 'model.bin'"],
      [{ 'model.bin': '0a1b2c3d0' }, "invalid crc32c for 'model.bin'"],
      [{ 'model.bin': 'zzzzzzzz' }, "invalid crc32c for 'model.bin'"],
    ] as const) {
      const uuid = testUuid();
      const res = await m.request('POST', '/api/v1/checkpoints', {
        token: s.token,
        body: report(s, uuid, { crc32c }),
      });
      await expectError(res, 400, fragment);
      const missing = await m.request('GET', `/api/v1/checkpoints/${uuid}`, { token: s.token });
      expect(missing.status, JSON.stringify(crc32c)).toBe(404);
    }
  });

  it('treats an identical re-report as a no-op and another crc32c as a conflict', async () => {
    const m = master();
    const s = await seedTrial(m);
    const uuid = testUuid();
    const body = report(s, uuid, { crc32c: { 'model.bin': '0a1b2c3d' } });
    await call(m, s.token, 'POST', '/api/v1/checkpoints', body);
    await call(m, s.token, 'POST', '/api/v1/checkpoints', body);
    for (const crc32c of [{ 'model.bin': '0a1b2c3e' }, null, { 'extra.txt': '00000000' }]) {
      const res = await m.request('POST', '/api/v1/checkpoints', {
        token: s.token,
        body: report(s, uuid, { crc32c }),
      });
      await expectError(res, 409, `checkpoint '${uuid}' already exists`);
    }
    expect((await getCheckpoint(m, s, uuid)).crc32c).toEqual({ 'model.bin': '0a1b2c3d' });
  });

  it('keeps crc32c only for the files that remain, as digests', async () => {
    const m = master();
    const s = await seedTrial(m);
    const uuid = testUuid();
    const files = { 'a.bin': 'aaa', 'b.txt': 'bbb', 'sub/c.bin': 'ccc' };
    for (const [name, content] of Object.entries(files)) {
      const path = join(m.storageDir, uuid, name);
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, content);
    }
    const crc32c = { 'a.bin': '00000001', 'b.txt': '00000002', 'sub/c.bin': '00000003' };
    await call(m, s.token, 'POST', '/api/v1/checkpoints', {
      ...report(s, uuid, { crc32c }),
      resources: { 'a.bin': '3', 'b.txt': '3', 'sub/': '0', 'sub/c.bin': '3' },
    });
    await call(m, s.token, 'POST', '/api/v1/checkpoints/rm', {
      checkpointUuids: [uuid],
      checkpointGlobs: ['*.bin'],
    });
    expect((await getCheckpoint(m, s, uuid)).crc32c).toEqual({
      'b.txt': '00000002',
      'sub/c.bin': '00000003',
    });
    // A PATCH that drops a file drops its checksum too.
    await call(m, s.token, 'PATCH', '/api/v1/checkpoints', {
      checkpoints: [{ uuid, resources: { resources: { 'b.txt': '3' } } }],
    });
    expect((await getCheckpoint(m, s, uuid)).crc32c).toEqual({ 'b.txt': '00000002' });
  });
});
