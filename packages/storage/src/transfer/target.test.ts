import { mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { deadPid, hostTagOf, leftover } from '../../test/temp-siblings.js';
import { STALE_TEMP_AGE_MS, createTempSibling, sweepStaleTempSiblings } from './target.js';

describe('createTempSibling', () => {
  let dir: string;
  let target: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'det-target-'));
    target = join(dir, 'ckpt');
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('names the temp sibling after the target, with our pid and host tag', async () => {
    const temp = await createTempSibling(target);
    expect(basename(temp)).toMatch(
      new RegExp(`^\\.ckpt\\.partial-${process.pid}-[0-9a-f]{8}-[0-9a-f]{12}$`),
    );
    expect(await readdir(dir)).toEqual([basename(temp)]);
  });

  it('sweeps only stale siblings of the same target whose owner died on this host', async () => {
    const ours = await createTempSibling(target);
    const tag = hostTagOf(ours);
    const dead = deadPid();
    const old = STALE_TEMP_AGE_MS + 60_000;
    const stale = await leftover(dir, `.ckpt.partial-${dead}-${tag}-0123456789ab`, old);
    const kept = [
      // Too young: a crashed download from minutes ago may be looked at.
      await leftover(dir, `.ckpt.partial-${dead}-${tag}-111111111111`, 60_000),
      // Its owner still runs.
      await leftover(dir, `.ckpt.partial-${process.ppid}-${tag}-222222222222`, old),
      // Another host (or PID namespace): its pid means nothing here.
      await leftover(dir, `.ckpt.partial-${dead}-0badf00d-333333333333`, old),
      // Another target's.
      await leftover(dir, `.ckpt2.partial-${dead}-${tag}-444444444444`, old),
      // Older naming, without an owner: never touched.
      await leftover(dir, '.ckpt.partial-555555555555', old),
      // Not ours at all.
      await leftover(dir, 'ckpt.partial-other', old),
      await leftover(dir, `.ckpt.partial-0-${tag}-666666666666`, old),
    ];
    const file = join(dir, `.ckpt.partial-${dead}-${tag}-777777777777`);
    await writeFile(file, 'a file, not a download');
    await utimes(file, new Date(0), new Date(0));

    const temp = await createTempSibling(target);
    const names = (await readdir(dir)).sort();
    expect(names).not.toContain(basename(stale));
    expect(names).toEqual([ours, temp, file, ...kept].map((p) => basename(p)).sort());
  });

  it('reports what it swept, and honours the clock and age it is given', async () => {
    const tag = hostTagOf(await createTempSibling(target));
    const dead = deadPid();
    const young = await leftover(dir, `.ckpt.partial-${dead}-${tag}-aaaaaaaaaaaa`, 1000);
    expect(await sweepStaleTempSiblings(target)).toEqual([]);
    const later = (): number => Date.now() + STALE_TEMP_AGE_MS;
    expect(await sweepStaleTempSiblings(target, { now: later })).toEqual([young]);
  });

  it('never fails for a parent it cannot list', async () => {
    expect(await sweepStaleTempSiblings(join(dir, 'missing', 'ckpt'))).toEqual([]);
  });
});
