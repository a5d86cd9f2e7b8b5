import type { TrialLogDto } from '@determined-ts/api';
import { expect, it } from 'vitest';

import { call, seedTrial } from '../../test/flow.js';
import type { Seeded } from '../../test/flow.js';
import { describeEachDialect } from '../../test/helpers.js';
import type { TestMaster } from '../../test/helpers.js';

/** The log lines of a trial, as `GET /api/v1/trials/{id}/logs` streams them. */
async function logs(m: TestMaster, s: Seeded, query = ''): Promise<TrialLogDto[]> {
  const res = await m.request('GET', `/api/v1/trials/${s.trialId}/logs${query}`, {
    token: s.token,
  });
  const text = await res.text();
  expect(res.status, text).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => (JSON.parse(line) as { result: TrialLogDto }).result);
}

async function ship(m: TestMaster, s: Seeded, lines: readonly string[]): Promise<void> {
  for (let i = 0; i < lines.length; i += 1000) {
    await call(
      m,
      s.token,
      'POST',
      '/task-logs',
      lines.slice(i, i + 1000).map((log) => ({ task_id: s.taskId, log })),
    );
  }
}

describeEachDialect('trial logs', ({ master }) => {
  it('streams newest first with orderBy=ORDER_BY_DESC, so a limit is the tail', async () => {
    const m = master();
    const s = await seedTrial(m);
    await ship(m, s, ['one\n', 'two\n', 'three\n', 'four\n']);
    expect((await logs(m, s)).map((l) => l.log)).toEqual(['one\n', 'two\n', 'three\n', 'four\n']);
    expect((await logs(m, s, '?orderBy=ORDER_BY_ASC&limit=2')).map((l) => l.log)).toEqual([
      'one\n',
      'two\n',
    ]);
    const tail = await logs(m, s, '?limit=2&orderBy=ORDER_BY_DESC');
    expect(tail.map((l) => l.log)).toEqual(['four\n', 'three\n']);
    expect(Number(tail[0]?.id)).toBeGreaterThan(Number(tail[1]?.id));
    expect(tail[0]).toMatchObject({
      trialId: s.trialId,
      message: 'four\n',
      level: 'LOG_LEVEL_INFO',
    });
    // The enum number works too, as the gateway accepts it.
    expect((await logs(m, s, '?orderBy=2&limit=1')).map((l) => l.log)).toEqual(['four\n']);
  });

  it('pages long logs in either order without losing or repeating a line', async () => {
    const m = master();
    const s = await seedTrial(m);
    const lines = Array.from({ length: 2500 }, (_, i) => `line ${i}\n`);
    await ship(m, s, lines);
    expect((await logs(m, s)).map((l) => l.log)).toEqual(lines);
    expect((await logs(m, s, '?orderBy=ORDER_BY_DESC')).map((l) => l.log)).toEqual(
      [...lines].reverse(),
    );
    expect((await logs(m, s, '?orderBy=ORDER_BY_DESC&limit=1500')).map((l) => l.log)).toEqual(
      [...lines].reverse().slice(0, 1500),
    );
  });

  it('keeps the lines that contain searchText, ignoring case, with % and _ taken literally', async () => {
    const m = master();
    const s = await seedTrial(m);
    await ship(m, s, [
      'Epoch 1: loss 0.5\n',
      'epoch 2: loss 0.4\n',
      'saving checkpoint\n',
      '100% done\n',
      '1000 done\n',
      'a_b\n',
      'axb\n',
      'EPOCH 3: loss 0.3\n',
    ]);
    const found = async (query: string): Promise<string[]> =>
      (await logs(m, s, query)).map((l) => l.log.trim());
    expect(await found('?searchText=epoch')).toEqual([
      'Epoch 1: loss 0.5',
      'epoch 2: loss 0.4',
      'EPOCH 3: loss 0.3',
    ]);
    expect(await found('?searchText=epoch&orderBy=ORDER_BY_DESC&limit=2')).toEqual([
      'EPOCH 3: loss 0.3',
      'epoch 2: loss 0.4',
    ]);
    expect(await found(`?searchText=${encodeURIComponent('0%')}`)).toEqual(['100% done']);
    expect(await found('?searchText=a_b')).toEqual(['a_b']);
    expect(await found('?search_text=CHECKPOINT')).toEqual(['saving checkpoint']);
    expect(await found('?searchText=nothing%20like%20this')).toEqual([]);
    expect(await found('?searchText=')).toHaveLength(8);
  });
});
