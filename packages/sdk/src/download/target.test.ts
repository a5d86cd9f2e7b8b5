import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { getCheckpoint } from '../api/checkpoints.js';
import { init } from '../core/init.js';
import { inProcessMaster, makeTree } from '../../test/core-helpers.js';
import { downloadCheckpoint } from './download.js';
import { STALE_TEMP_AGE_MS, createTempSibling, sweepStaleTempSiblings } from './target.js';

/** The pid of a process that has exited (and been reaped), so no longer alive. */
function deadPid(): number {
  const { pid, status } = spawnSync(process.execPath, ['-e', '0']);
  expect(status).toBe(0);
  return pid;
}

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

  /** This host's tag, as the names createTempSibling makes carry it. */
  const hostTagOf = (temp: string): string => {
    const match = /\.partial-(\d+)-([0-9a-f]{8})-[0-9a-f]{12}$/.exec(basename(temp));
    expect(match?.[1]).toBe(String(process.pid));
    return match?.[2] ?? '';
  };

  /** Makes a sibling directory `name` of the target, last modified `ageMs` ago. */
  const leftover = async (name: string, ageMs: number): Promise<string> => {
    const path = join(dir, name);
    await mkdir(join(path, 'inner'), { recursive: true });
    await writeFile(join(path, 'inner', 'part.bin'), 'x');
    const when = new Date(Date.now() - ageMs);
    await utimes(path, when, when);
    return path;
  };

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
    const stale = await leftover(`.ckpt.partial-${dead}-${tag}-0123456789ab`, old);
    const kept = [
      // Too young: a crashed download from minutes ago may be looked at.
      await leftover(`.ckpt.partial-${dead}-${tag}-111111111111`, 60_000),
      // Its owner still runs.
      await leftover(`.ckpt.partial-${process.ppid}-${tag}-222222222222`, old),
      // Another host (or PID namespace): its pid means nothing here.
      await leftover(`.ckpt.partial-${dead}-0badf00d-333333333333`, old),
      // Another target's.
      await leftover(`.ckpt2.partial-${dead}-${tag}-444444444444`, old),
      // Older naming, without an owner: never touched.
      await leftover('.ckpt.partial-555555555555', old),
      // Not ours at all.
      await leftover('ckpt.partial-other', old),
      await leftover(`.ckpt.partial-0-${tag}-666666666666`, old),
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
    const young = await leftover(`.ckpt.partial-${dead}-${tag}-aaaaaaaaaaaa`, 1000);
    expect(await sweepStaleTempSiblings(target)).toEqual([]);
    const later = (): number => Date.now() + STALE_TEMP_AGE_MS;
    expect(await sweepStaleTempSiblings(target, { now: later })).toEqual([young]);
  });

  it('a download sweeps the stale leftovers of its target, and leaves only the target', async () => {
    const m = await inProcessMaster();
    try {
      const core = await init({
        master: m.url,
        fetch: m.fetch,
        env: m.env,
        shipOutput: false,
        closeOnExit: false,
        config: { searcher: { metric: 'loss' }, checkpoint_storage: join(m.dir, 'storage') },
      });
      await makeTree(join(m.dir, 'src'), { 'w.bin': 'weights' });
      const uuid = await core.run(() =>
        core.checkpoint.upload(join(m.dir, 'src'), { steps_completed: 1 }),
      );
      const tag = hostTagOf(await createTempSibling(join(dir, 'probe')));
      const old = STALE_TEMP_AGE_MS + 60_000;
      await leftover(`.ckpt.partial-${deadPid()}-${tag}-0123456789ab`, old);
      const checkpoint = await getCheckpoint(core.client, uuid);
      await downloadCheckpoint({ ...checkpoint, client: core.client }, target);
      expect((await readdir(dir)).filter((n) => n.includes('ckpt'))).toEqual(['ckpt']);
    } finally {
      await m.close();
    }
  });

  it('never fails for a parent it cannot list', async () => {
    expect(await sweepStaleTempSiblings(join(dir, 'missing', 'ckpt'))).toEqual([]);
  });
});
