import { PassThrough } from 'node:stream';

import type { FetchLike } from '@determined-ts/sdk';
import { describe, expect, it } from 'vitest';

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
import type { SeededExperiment } from '../test/helpers.js';

const cli = useCliMaster('gc');
const { det } = cli;

const POLICY = [
  '--save-experiment-best',
  '0',
  '--save-trial-best',
  '1',
  '--save-trial-latest',
  '0',
];
const PROMPT =
  'Changing the checkpoint garbage collection policy of an experiment may result\n' +
  'in the unrecoverable deletion of checkpoints.  Do you wish to proceed? [y/n]: ';

/** Losses 0.5, 0.2, 0.4 at steps 100, 200, 300: the policy keeps [1] and deletes [0] and [2]. */
async function seeded(): Promise<SeededExperiment & { sizes: number[]; id: string }> {
  const s = await seedExperiment(cli.master, { ended: true });
  const sizes = await Promise.all(s.uuids.map((u) => storedBytes(cli.master, u)));
  return { ...s, sizes, id: String(s.trial.experimentId) };
}

interface ExperimentJson {
  experiment: { config: { checkpoint_storage: Record<string, unknown> } };
}

async function storedPolicy(id: string): Promise<Record<string, unknown>> {
  const client = await cli.master.login();
  const { experiment } = await client.request<ExperimentJson>('GET', `/api/v1/experiments/${id}`);
  return experiment.config.checkpoint_storage;
}

describe('GC help', () => {
  it('says experiments are not collected when they end, and what stays of a running trial', async () => {
    for (const argv of [
      ['checkpoint', 'gc', '--help'],
      ['e', 'set', 'gc-policy', '--help'],
    ]) {
      const run = await det(...argv);
      expect(run.code, argv.join(' ')).toBe(0);
      expect(run.stdout.replace(/\s+/g, ' ')).toContain(
        'Experiments are not collected when they end',
      );
      expect(run.stdout).toContain('The latest checkpoint of a trial that has not ended is kept');
    }
  });
});

describe('det checkpoint gc --dry-run', () => {
  it('prints what the policy would delete and the bytes, deleting nothing', async () => {
    const s = await seeded();
    const [s0 = 0, s1 = 0, s2 = 0] = s.sizes;
    const out = ok(await det('checkpoint', 'gc', s.id, '--dry-run', ...POLICY));
    expect(out).toMatch(/^The following checkpoints will be deleted by applying this GC policy:\n/);
    expect(tableRows(out)).toEqual([
      {
        'Trial ID': String(s.trial.trialId),
        Steps: '100',
        State: 'COMPLETED',
        'Validation Metric (validation_loss)': '0.500000',
        UUID: s.uuids[0],
        Size: `${s0} B`,
      },
      expect.objectContaining({ Steps: '300', UUID: s.uuids[2] }),
    ]);
    // The seeded checkpoints are small: bytes are printed as they are below 1 KiB.
    expect(out).toMatch(
      new RegExp(
        `\\nThis policy will delete 2 checkpoint\\(s\\), ${s0 + s2} B and keep 1 checkpoint\\(s\\), ${s1} B\\.\\n$`,
      ),
    );
    expect(onDisk(cli.master, s.uuids)).toEqual([true, true, true]);

    const json = JSON.parse(ok(await det('c', 'gc', s.id, '--dry-run', '--json', ...POLICY))) as {
      checkpoints: { uuid: string }[];
      summary: Record<string, number>;
    };
    expect(json.checkpoints.map((c) => c.uuid)).toEqual([s.uuids[0], s.uuids[2]]);
    expect(json.summary).toEqual({
      deleteCount: 2,
      deleteBytes: s0 + s2,
      keepCount: 1,
      keepBytes: s1,
    });

    const none = ok(
      await det(
        'checkpoint',
        'gc',
        s.id,
        '--dry-run',
        ...POLICY.slice(0, 4),
        '--save-trial-latest',
        '3',
      ),
    );
    expect(none).toMatch(/^This policy will delete no checkpoints and keep 3 checkpoint\(s\), /);
  });

  it('refuses to run without --dry-run, and bad flags, with one line', async () => {
    failed(await det('checkpoint', 'gc', '1', ...POLICY), 2, /^det: .*pass --dry-run/);
    failed(
      await det('checkpoint', 'gc', '1', '--dry-run', '--save-trial-best', '1'),
      2,
      /required option '--save-experiment-best <n>' not specified/,
    );
    failed(
      await det('checkpoint', 'gc', '1', '--dry-run', ...POLICY.slice(0, 5), '-1'),
      2,
      /expected a non-negative integer, got '-1'/,
    );
    failed(
      await det('checkpoint', 'gc', '99999', '--dry-run', ...POLICY),
      1,
      /^det: .*preview_gc.*404/,
    );
  });
});

describe('det experiment set gc-policy', () => {
  it('without a terminal and without --yes, exits 2 with one line and changes nothing', async () => {
    const s = await seeded();
    failed(
      await det('experiment', 'set', 'gc-policy', s.id, ...POLICY),
      2,
      new RegExp(
        `^det: pass --yes to set the GC policy of experiment ${s.id} \\(stdin is not a terminal`,
      ),
    );
    expect(onDisk(cli.master, s.uuids)).toEqual([true, true, true]);
  });

  it('previews, asks, and on "n" aborts without changing anything', async () => {
    const s = await seeded();
    const before = await storedPolicy(s.id);
    const run = await cli.run(['e', 'set', 'gc-policy', s.id, ...POLICY], {
      stdin: terminal('n\n'),
    });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toBe(PROMPT);
    expect(tableRows(run.stdout).map((r) => r.UUID)).toEqual([s.uuids[0], s.uuids[2]]);
    expect(run.stdout).toMatch(
      /This policy will delete 2 checkpoint\(s\), .*\nAborting operations\.\n$/,
    );
    expect(onDisk(cli.master, s.uuids)).toEqual([true, true, true]);
    expect(await storedPolicy(s.id)).toEqual(before);

    // The end of input is a no as well.
    const eof = await cli.run(['e', 'set', 'gc-policy', s.id, ...POLICY], {
      stdin: terminal(''),
    });
    expect(eof.code).toBe(0);
    expect(eof.stdout).toMatch(/Aborting operations\.\n$/);
    expect(onDisk(cli.master, s.uuids)).toEqual([true, true, true]);
  });

  it('stops waiting for an answer at Ctrl-C, deleting nothing', async () => {
    const s = await seeded();
    const controller = new AbortController();
    // A terminal nobody types into; the prompt's appearance is the cue to interrupt.
    const stdin = Object.assign(new PassThrough(), { isTTY: true });
    const stderr = new (class extends Capture {
      override _write(chunk: Buffer, enc: string, done: () => void): void {
        super._write(chunk, enc, done);
        if (this.text.endsWith('[y/n]: ')) {
          controller.abort();
        }
      }
    })();
    const run = await cli.run(['e', 'set', 'gc-policy', s.id, ...POLICY], {
      stdin,
      stderr,
      signal: controller.signal,
    });
    expect(run.code).toBe(1);
    expect(stderr.text).toBe(`${PROMPT}det: interrupted\n`);
    expect(onDisk(cli.master, s.uuids)).toEqual([true, true, true]);
  });

  it('asks again until y or n, then sets the policy and deletes what the preview showed', async () => {
    const s = await seeded();
    const [s0 = 0, , s2 = 0] = s.sizes;
    const run = await cli.run(['experiment', 'set', 'gc-policy', s.id, ...POLICY], {
      stdin: terminal('maybe\nYes\n'),
    });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toBe(`${PROMPT}Please respond with 'y' or 'n'\n${PROMPT}`);
    const [preview = '', result = ''] = run.stdout.split(/(?=Set GC policy)/);
    expect(tableRows(preview).map((r) => r.UUID)).toEqual([s.uuids[0], s.uuids[2]]);
    expect(result).toMatch(
      new RegExp(
        `^Set GC policy of experiment ${s.id} to\\n\\{'save_experiment_best': 0, 'save_trial_best': 1, 'save_trial_latest': 0\\}\\n`,
      ),
    );
    expect(tableRows(result)).toEqual([
      { 'Deleted UUID': s.uuids[0], Size: `${s0} B` },
      { 'Deleted UUID': s.uuids[2], Size: `${s2} B` },
    ]);
    expect(result).toMatch(
      new RegExp(`\\nDeleted 2 checkpoint\\(s\\), freeing ${s0 + s2} B\\.\\n$`),
    );
    expect(onDisk(cli.master, s.uuids)).toEqual([false, true, false]);
    expect(await storedPolicy(s.id)).toMatchObject({
      save_experiment_best: 0,
      save_trial_best: 1,
      save_trial_latest: 0,
    });
  });

  it('with --yes, neither previews nor asks', async () => {
    const s = await seeded();
    const out = ok(await det('experiment', 'set', 'gc-policy', s.id, ...POLICY, '--yes'));
    expect(out).not.toContain('This policy will delete');
    expect(out).toMatch(/^Set GC policy of experiment \d+ to\n/);
    expect(out).toMatch(/Deleted 2 checkpoint\(s\), freeing /);
    expect(onDisk(cli.master, s.uuids)).toEqual([false, true, false]);

    // Again: nothing left to delete.
    const again = ok(await det('experiment', 'set', 'gc-policy', s.id, ...POLICY, '--yes'));
    expect(again).toMatch(/\nDeleted 0 checkpoint\(s\), freeing 0 B\.\n$/);
    expect(tableRows(again)).toEqual([]);
  });

  it('lists the checkpoints it could not delete on stderr and exits 1', async () => {
    const s = await seeded();
    // The master's answer to the PATCH, as when a checkpoint's storage refused a deletion.
    const fetch: FetchLike = async (input, init) => {
      if ((init?.method ?? 'GET') !== 'PATCH') {
        return cli.master.fetch(input, init);
      }
      const res = await cli.master.fetch(input, init);
      const body = (await res.json()) as Record<string, unknown>;
      const gc = {
        deleted: [{ uuid: s.uuids[0], bytes: 5000 }],
        failed: [{ uuid: s.uuids[2], error: 'permission denied' }],
        freedBytes: 5000,
      };
      return Response.json({ ...body, gc });
    };
    const run = await cli.run(['experiment', 'set', 'gc-policy', s.id, ...POLICY, '--yes'], {
      fetch,
    });
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(`det: could not delete checkpoint ${s.uuids[2]}: permission denied\n`);
    expect(tableRows(run.stdout)).toEqual([{ 'Deleted UUID': s.uuids[0], Size: '4.9 KiB' }]);
    expect(run.stdout).toMatch(/\nDeleted 1 checkpoint\(s\), freeing 4\.9 KiB \(5000 bytes\)\.\n$/);
  });

  it('reports an unknown experiment and bad flags with one line', async () => {
    failed(
      await det('experiment', 'set', 'gc-policy', '99999', ...POLICY, '--yes'),
      1,
      /^det: PATCH \/api\/v1\/experiments\/99999: 404/,
    );
    failed(
      await det('experiment', 'set', 'gc-policy', '1', '--save-trial-best', '1', '--yes'),
      2,
      /required option/,
    );
    failed(
      await det('experiment', 'set', 'gc-policy', 'one', ...POLICY, '--yes'),
      2,
      /expected a positive integer, got 'one'/,
    );
  });
});
