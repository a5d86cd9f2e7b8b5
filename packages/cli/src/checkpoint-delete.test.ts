import { PassThrough } from 'node:stream';

import { createModel, getCheckpoint, registerModelVersion } from '@determined-ts/sdk';
import type { FetchLike } from '@determined-ts/sdk';
import { describe, expect, it } from 'vitest';

import { reportCheckpoint, setCheckpointState, testUuid } from '../../sdk/test/master.js';
import type { SeededTrial } from '../../sdk/test/master.js';
import {
  Capture,
  failed,
  ok,
  seedExperiment,
  tableRows,
  terminal,
  onDisk,
  storedBytes,
  useCliMaster,
} from '../test/helpers.js';

const cli = useCliMaster('delete');
const { det } = cli;

let models = 0;
const seededTrials: SeededTrial[] = [];

/** Three checkpoints of one experiment: [0] ERROR, [1] registered as a version, [2] COMPLETED. */
async function seeded(): Promise<{
  id: string;
  trialId: string;
  uuids: string[];
  sizes: number[];
}> {
  const s = await seedExperiment(cli.master);
  seededTrials.push(s.trial);
  const [errored = '', registered = ''] = s.uuids;
  await setCheckpointState(cli.master, errored, 'STATE_ERROR');
  const client = await cli.master.login();
  models += 1;
  await createModel(client, { name: `keep-${models}` });
  await registerModelVersion(client, `keep-${models}`, registered);
  return {
    id: String(s.trial.experimentId),
    trialId: String(s.trial.trialId),
    uuids: s.uuids,
    sizes: await Promise.all(s.uuids.map((u) => storedBytes(cli.master, u))),
  };
}

async function stateOf(uuid: string): Promise<string> {
  return (await getCheckpoint(await cli.master.login(), uuid)).state;
}

describe('det checkpoint delete (bulk)', () => {
  it('--dry-run prints what would go and what is kept, changing nothing', async () => {
    const s = await seeded();
    const [s0 = 0, , s2 = 0] = s.sizes;
    const out = ok(await det('checkpoint', 'delete', '--experiment', s.id, '--dry-run'));
    expect(tableRows(out, 'UUID').map((r) => r.UUID)).toEqual([s.uuids[0], s.uuids[2]]);
    expect(tableRows(out, 'Skipped UUID')).toEqual([
      {
        'Skipped UUID': s.uuids[1],
        Reason: expect.stringMatching(/^registered as version 1 of model "keep-\d+"$/) as string,
      },
    ]);
    expect(out).toContain(`\nThis will delete 2 checkpoint(s), ${s0 + s2} B.\n`);
    expect(out).toMatch(/\nDry run: nothing was deleted\.\n$/);

    const json = JSON.parse(
      ok(await det('c', 'delete', '--experiment', s.id, '--dry-run', '--json', '--state', 'error')),
    ) as { selected: { count: number; uuids: string[] }; dryRun: boolean; deleted: unknown[] };
    expect(json).toMatchObject({
      selected: { count: 1, uuids: [s.uuids[0]] },
      dryRun: true,
      deleted: [],
    });
    expect(onDisk(cli.master, s.uuids)).toEqual([true, true, true]);
    expect(await stateOf(s.uuids[0] ?? '')).toBe('ERROR');
  });

  it('with --yes and --state ERROR deletes only the ERROR checkpoints and their files', async () => {
    const s = await seeded();
    const [s0 = 0] = s.sizes;
    const out = ok(
      await det('checkpoint', 'delete', '--experiment', s.id, '--state', 'STATE_ERROR', '--yes'),
    );
    expect(out).toBe(`Deleted 1 checkpoint(s), freeing ${s0} B.\n`);
    expect(onDisk(cli.master, s.uuids)).toEqual([false, true, true]);
    expect(await stateOf(s.uuids[0] ?? '')).toBe('DELETED');
    expect(await stateOf(s.uuids[2] ?? '')).toBe('COMPLETED');
  });

  it('skips registered checkpoints and lists them', async () => {
    const s = await seeded();
    const out = ok(await det('checkpoint', 'delete', '--trial', s.trialId, '--yes'));
    expect(tableRows(out, 'Skipped UUID').map((r) => r['Skipped UUID'])).toEqual([s.uuids[1]]);
    expect(out).toMatch(/\nDeleted 2 checkpoint\(s\), freeing \d+ B\.\n$/);
    expect(onDisk(cli.master, s.uuids)).toEqual([false, true, false]);
    expect(await stateOf(s.uuids[1] ?? '')).toBe('COMPLETED');
  });

  it('previews, asks, and deletes on "y" exactly what it showed', async () => {
    const s = await seeded();
    const no = await cli.run(['c', 'delete', '--experiment', s.id], {
      stdin: terminal('n\n'),
    });
    expect(no.code, no.stderr).toBe(0);
    expect(no.stderr).toMatch(/Do you wish to proceed\? \[y\/n\]: $/);
    expect(no.stdout).toMatch(/\nAborting operations\.\n$/);
    expect(onDisk(cli.master, s.uuids)).toEqual([true, true, true]);

    const yes = await cli.run(['c', 'delete', '--experiment', s.id, '--json'], {
      stdin: terminal('y\n'),
    });
    expect(yes.code, yes.stderr).toBe(0);
    // The preview goes to stderr with the question; stdout holds the answer alone.
    expect(tableRows(yes.stderr, 'UUID').map((r) => r.UUID)).toEqual([s.uuids[0], s.uuids[2]]);
    const answer = JSON.parse(yes.stdout) as { deleted: { uuid: string }[]; skipped: unknown[] };
    expect(answer.deleted.map((d) => d.uuid)).toEqual([s.uuids[0], s.uuids[2]]);
    expect(answer.skipped).toHaveLength(1);
    expect(onDisk(cli.master, s.uuids)).toEqual([false, true, false]);
  });

  it('leaves alone a checkpoint reported while the question waits', async () => {
    const s = await seeded();
    const trial = seededTrials.at(-1);
    const late = testUuid(9);
    const stdin = Object.assign(new PassThrough(), { isTTY: true });
    // At the prompt the trial reports one more checkpoint, then the answer is typed.
    const stderr = new (class extends Capture {
      override _write(chunk: Buffer, enc: string, done: () => void): void {
        super._write(chunk, enc, done);
        if (this.text.endsWith('[y/n]: ') && trial !== undefined) {
          void cli.master
            .login()
            .then((client) => reportCheckpoint(client, trial, { uuid: late, steps: 400 }))
            .then(() => stdin.end('y\n'));
        }
      }
    })();
    const run = await cli.run(['c', 'delete', '--experiment', s.id], {
      stdin,
      stderr,
    });
    expect(run.code, stderr.text).toBe(0);
    expect(run.stdout).toMatch(/\nDeleted 2 checkpoint\(s\), freeing \d+ B\.\n$/);
    expect(onDisk(cli.master, s.uuids)).toEqual([false, true, false]);
    expect(await stateOf(late)).toBe('COMPLETED');
  });

  it('without a terminal and without --yes, exits 2 with one line and changes nothing', async () => {
    const s = await seeded();
    failed(
      await det('checkpoint', 'delete', '--experiment', s.id),
      2,
      /^det: pass --yes to delete checkpoints \(stdin is not a terminal/,
    );
    expect(onDisk(cli.master, s.uuids)).toEqual([true, true, true]);
  });

  it('names each checkpoint it could not delete and exits 1', async () => {
    const s = await seeded();
    // The master's answer as when a checkpoint's storage refused a deletion.
    const fetch: FetchLike = async (input, init) => {
      const res = await cli.master.fetch(input, init);
      if (!String(input).endsWith('/bulk-delete')) {
        return res;
      }
      const body = (await res.json()) as Record<string, unknown>;
      return Response.json({
        ...body,
        deleted: [{ uuid: s.uuids[0], bytes: 2048 }],
        failed: [{ uuid: s.uuids[2], error: 'permission denied' }],
        freedBytes: 2048,
      });
    };
    const run = await cli.run(['c', 'delete', '--experiment', s.id, '--yes'], { fetch });
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(`det: could not delete checkpoint ${s.uuids[2]}: permission denied\n`);
    expect(run.stdout).toMatch(/\nDeleted 1 checkpoint\(s\), freeing 2\.0 KiB\.\n$/);
  });
});

describe('det checkpoint delete UUID,UUID', () => {
  it('takes one comma-separated list, as Determined does', async () => {
    const s = await seeded();
    const [errored = '', , completed = ''] = s.uuids;
    const preview = ok(await det('c', 'delete', `${errored},${completed}`, '--dry-run'));
    expect(tableRows(preview, 'UUID').map((r) => r.UUID)).toEqual([errored, completed]);
    expect(onDisk(cli.master, s.uuids)).toEqual([true, true, true]);

    expect(ok(await det('c', 'delete', `${errored},${completed}`))).toBe(
      'Deleted 2 checkpoint(s).\n',
    );
    expect(onDisk(cli.master, s.uuids)).toEqual([false, true, false]);
    expect(await stateOf(completed)).toBe('DELETED');
  });
});

describe('det checkpoint delete with bad input', () => {
  it('exits 2 with one line, asking nothing of the master', async () => {
    const before = cli.master.requests.length;
    failed(
      await det('c', 'delete', '--experiment', '1', '--state', 'DELETED', '--yes'),
      2,
      /^det: .*'DELETED' is invalid\. expected one of COMPLETED, PARTIALLY_DELETED, ERROR, got 'DELETED'$/,
    );
    failed(
      await det('c', 'delete', '--yes'),
      2,
      /^det: say what to delete: checkpoint UUIDs, --experiment/,
    );
    failed(
      await det('c', 'delete', '--dry-run', '--state', 'ERROR'),
      2,
      /^det: say what to delete/,
    );
    failed(
      await det('c', 'delete', '00000000-0000-4000-8000-000000000001', '--state', 'ERROR'),
      2,
      /^det: --state narrows --experiment and --trial/,
    );
    failed(await det('c', 'delete', '--trial', 'x'), 2, /expected a positive integer, got 'x'/);
    expect(cli.master.requests.length).toBe(before);
  });
});
