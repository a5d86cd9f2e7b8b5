import { mkdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import type { ReconcileResult } from '@determined-ts/sdk';
import { beforeAll, describe, expect, it } from 'vitest';

import { ok, seedExperiment, useCliMaster } from '../test/helpers.js';
import type { SeededExperiment } from '../test/helpers.js';

const cli = useCliMaster('storage', { login: false });
const { det } = cli;
let seeded: SeededExperiment;
const ORPHAN = 'abcdef00-1234-4000-8000-00000000cafe';

beforeAll(async () => {
  seeded = await seedExperiment(cli.master);
  await mkdir(join(cli.master.storageDir, ORPHAN));
  await writeFile(join(cli.master.storageDir, ORPHAN, 'model.bin'), Buffer.alloc(2048));
  // The second checkpoint loses a file behind the master's back.
  await rm(join(cli.master.storageDir, seeded.uuids[1] as string, 'metadata.json'));
});

const exists = (path: string): Promise<boolean> =>
  stat(path).then(
    () => true,
    () => false,
  );

describe('det storage reconcile', () => {
  it('is refused to users who are not admins', async () => {
    ok(await det('user', 'login', 'determined'));
    const run = await det('storage', 'reconcile', '--grace-seconds', '0');
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/403.*access denied/);
  });

  it('lists orphans and missing files on a dry run, changing nothing', async () => {
    ok(await det('user', 'login', 'admin'));
    const out = ok(await det('storage', 'reconcile', '--grace-seconds', '0'));
    expect(out).toContain('Orphaned checkpoint files (no live checkpoint):');
    expect(out).toContain(ORPHAN);
    expect(out).toContain(seeded.uuids[1]);
    expect(out).toContain('metadata.json');
    expect(out).toContain('Dry run: nothing changed');
    expect(await exists(join(cli.master.storageDir, ORPHAN))).toBe(true);
  });

  it('leaves recent entries alone with the default grace period', async () => {
    const result = JSON.parse(ok(await det('storage', 'reconcile', '--json'))) as ReconcileResult;
    expect(result.orphans).toEqual([]);
    expect(result.missing.map((m) => m.uuid)).toEqual([seeded.uuids[1]]);
  });

  it('applies with --apply and prints what it did', async () => {
    const result = JSON.parse(
      ok(await det('storage', 'reconcile', '--apply', '--grace-seconds', '0', '--json')),
    ) as ReconcileResult;
    expect(result.orphans.map((o) => [o.uuid, o.bytes])).toEqual([[ORPHAN, 2048]]);
    expect(result.applied).toEqual({ orphansDeleted: 1, bytesFreed: 2048, checkpointsUpdated: 1 });
    expect(await exists(join(cli.master.storageDir, ORPHAN))).toBe(false);
    const out = ok(await det('storage', 'reconcile', '--apply', '--grace-seconds', '0'));
    expect(out).toContain('No orphaned checkpoint files.');
    expect(out).toContain('No checkpoints with missing or changed files.');
    expect(out).toContain('Deleted 0 orphan(s), freeing 0 B; updated 0 checkpoint(s).');
    const checkpoint = ok(await det('checkpoint', 'describe', seeded.uuids[1] as string));
    expect(checkpoint).toMatch(/PARTIALLY_DELETED/);
  });

  it('refuses a negative grace period before asking the master', async () => {
    const run = await det('storage', 'reconcile', '--grace-seconds', '-1');
    expect(run.code).toBe(2);
  });
});
