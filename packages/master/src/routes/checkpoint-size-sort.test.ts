import type { CheckpointDto } from '@determined-ts/api';
import { expect, it } from 'vitest';

import { addTrial, call, reportCheckpoint, seedTrial } from '../../test/flow.js';
import { describeEachDialect } from '../../test/helpers.js';

/** `sortByAttr=SORT_BY_SIZE` (our extension) on the trial and experiment checkpoint routes. */
describeEachDialect('checkpoint listing by size', ({ master }) => {
  it('sorts by total bytes both ways, ties by larger step, later report, then smaller uuid', async () => {
    const m = master();
    const s = await seedTrial(m);
    const other = await addTrial(m, s);
    const t0 = m.now.ms;
    const at = (seconds: number): string => new Date(t0 + seconds * 1000).toISOString();
    const big = await reportCheckpoint(m, s, 10, {
      resources: { 'a.bin': '300' },
      reportTime: at(1),
    });
    const mid = await reportCheckpoint(m, s, 20, {
      resources: { 'a.bin': '150', 'b.bin': '50' },
      reportTime: at(2),
    });
    // Three of 100 bytes: the larger step first, then the later report, then the smaller uuid.
    const tieStep30 = await reportCheckpoint(m, s, 30, {
      resources: { 'a.bin': '100' },
      reportTime: at(3),
    });
    const tieEarly = await reportCheckpoint(m, s, 40, {
      resources: { 'a.bin': '100' },
      reportTime: at(4),
    });
    const tieLate = await reportCheckpoint(m, s, 40, {
      resources: { 'a.bin': '100' },
      reportTime: at(5),
    });
    const elsewhere = await reportCheckpoint(m, other, 5, { resources: { 'a.bin': '250' } });
    const ties = [tieLate, tieEarly, tieStep30];
    const list = async (path: string): Promise<string[]> =>
      (await call<{ checkpoints: CheckpointDto[] }>(m, s.token, 'GET', path)).checkpoints.map(
        (c) => c.uuid,
      );
    const trial = `/api/v1/trials/${s.trialId}/checkpoints?sortByAttr=SORT_BY_SIZE`;
    expect(await list(trial)).toEqual([...ties, mid, big]);
    expect(await list(`${trial}&orderBy=ORDER_BY_ASC`)).toEqual([...ties, mid, big]);
    expect(await list(`${trial}&orderBy=ORDER_BY_DESC`)).toEqual([big, mid, ...ties]);
    expect(await list(`${trial}&orderBy=ORDER_BY_DESC&offset=2&limit=2`)).toEqual(ties.slice(0, 2));
    // The enum by number (7) as the gateway accepts it.
    expect(await list(`/api/v1/trials/${s.trialId}/checkpoints?sortByAttr=7`)).toEqual([
      ...ties,
      mid,
      big,
    ]);
    const experiment = `/api/v1/experiments/${s.experimentId}/checkpoints?sortByAttr=SORT_BY_SIZE`;
    expect(await list(`${experiment}&orderBy=ORDER_BY_DESC`)).toEqual([
      big,
      elsewhere,
      mid,
      ...ties,
    ]);
    expect(await list(`${experiment}&states=STATE_COMPLETED&limit=2`)).toEqual(ties.slice(0, 2));
    // A partially deleted checkpoint sorts by what is left of it.
    await call(m, s.token, 'PATCH', '/api/v1/checkpoints', {
      checkpoints: [{ uuid: big, resources: { resources: { 'a.bin': '1' } } }],
    });
    expect(await list(trial)).toEqual([big, ...ties, mid]);
  });
});
