// Determined's own `det experiment set gc-policy` (v0.38.1's Python CLI) against our master over
// loopback: with --yes, and answering its preview's prompt with y and with n. Checks what it
// prints, the policy our master stored, the checkpoints' states and the files left in the
// master's directory storage. Skips when Python, the harness or the CLI's modules are absent.
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { Client } from '@determined-ts/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { seedExperiment, startLoopbackMaster } from '../test/helpers.js';
import type { MasterTarget, SeededExperiment } from '../test/helpers.js';
import {
  findPythonSdk,
  harnessDir,
  missingCliModules,
  runPythonArgv,
} from '../../../test/python-harness.js';

const prerequisites = findPythonSdk();
const missing = prerequisites.missing ?? missingCliModules();
if (missing !== undefined) {
  process.stderr.write(`det gc-policy interop test skipped: missing ${missing}\n`);
}

const POLICY = [
  '--save-experiment-best',
  '0',
  '--save-trial-best',
  '1',
  '--save-trial-latest',
  '0',
];
const SET_LINES = (id: number): string =>
  `Set GC policy of experiment ${id} to\n` +
  "{'save_experiment_best': 0, 'save_trial_best': 1, 'save_trial_latest': 0}\n";
const PROMPT =
  'Changing the checkpoint garbage collection policy of an experiment may result\n' +
  'in the unrecoverable deletion of checkpoints.  Do you wish to proceed? [y/n]: ';

interface ExperimentJson {
  experiment: { config: { checkpoint_storage: Record<string, unknown> } };
}

interface CheckpointsJson {
  checkpoints: { uuid: string; state: string }[];
}

describe.skipIf(missing !== undefined)(
  "Determined's `det experiment set gc-policy` against our master",
  () => {
    let scratch = '';
    let pythonPath = '';
    let m: MasterTarget;
    let client: Client;

    /** Runs Determined's CLI as `determined`, its token cache in the scratch home. */
    const pyDet = (
      input: string,
      ...argv: string[]
    ): Promise<{ code: number | null; stdout: string; stderr: string }> =>
      runPythonArgv(
        ['-m', 'determined.cli', ...argv],
        { HOME: join(scratch, 'home'), PYTHONPATH: pythonPath, DET_MASTER: m.baseUrl },
        { timeoutMs: 60_000, input },
      );

    /** The stored policy, each checkpoint's state and whether its directory still exists. */
    const after = async (
      s: SeededExperiment,
    ): Promise<{ policy: Record<string, unknown>; states: string[]; onDisk: boolean[] }> => {
      const id = s.trial.experimentId;
      const { experiment } = await client.request<ExperimentJson>(
        'GET',
        `/api/v1/experiments/${id}`,
      );
      const { checkpoints } = await client.request<CheckpointsJson>(
        'GET',
        `/api/v1/experiments/${id}/checkpoints`,
      );
      const stateOf = new Map(checkpoints.map((c) => [c.uuid, c.state]));
      return {
        policy: experiment.config.checkpoint_storage,
        states: s.uuids.map((u) => stateOf.get(u) ?? 'missing'),
        onDisk: s.uuids.map((u) => existsSync(join(m.storageDir, u))),
      };
    };

    const NEW_POLICY = { save_experiment_best: 0, save_trial_best: 1, save_trial_latest: 0 };
    // Losses 0.5, 0.2, 0.4 at steps 100, 200, 300: the best of the trial ([1]) stays.
    const COLLECTED = ['STATE_DELETED', 'STATE_COMPLETED', 'STATE_DELETED'];

    beforeAll(async () => {
      scratch = await mkdtemp(join(tmpdir(), 'det-gc-py-'));
      if (prerequisites.source === undefined) {
        throw new Error('no harness source');
      }
      pythonPath = await harnessDir(prerequisites.source, scratch);
      m = await startLoopbackMaster();
      client = await m.login();
      // The built-in user's empty password, for the one prompt `det user login` shows.
      const login = await pyDet('\n', 'user', 'login', 'determined');
      expect(login.code, login.stderr).toBe(0);
    }, 120_000);

    afterAll(async () => {
      await m.close();
      await rm(scratch, { recursive: true, force: true });
    });

    it('with --yes: sets the policy and our master deletes at once', async () => {
      const s = await seedExperiment(m, { ended: true });
      const id = s.trial.experimentId;
      const run = await pyDet('', 'experiment', 'set', 'gc-policy', String(id), ...POLICY, '--yes');
      expect(run.code, run.stderr).toBe(0);
      expect(run.stdout).toBe(SET_LINES(id));
      expect(await after(s)).toEqual({
        policy: expect.objectContaining(NEW_POLICY) as unknown,
        states: COLLECTED,
        onDisk: [false, true, false],
      });
    }, 60_000);

    it('without --yes: prints our preview as its table, and "y" collects', async () => {
      const s = await seedExperiment(m, { ended: true });
      const id = s.trial.experimentId;
      const run = await pyDet('y\n', 'experiment', 'set', 'gc-policy', String(id), ...POLICY);
      expect(run.code, run.stderr).toBe(0);
      const lines = run.stdout.split('\n');
      expect(lines[0]).toBe(
        'The following checkpoints with validation will be deleted by applying this GC Policy:',
      );
      // tabulate's presto table: a two-line header, a rule, then two lines per checkpoint to
      // delete (its Resources cell lists one file a line).
      expect(lines[1]).toMatch(/Trial ID \| +# of Batches \| State +\| +Validation Metric \| UUID/);
      expect(lines[2]).toMatch(/\| +\(validation_loss\) \|/);
      const cells = lines.slice(4, 8).map((l) => l.split('|').map((c) => c.trim()));
      const trialId = String(s.trial.trialId);
      expect(cells).toEqual([
        [trialId, '100', 'COMPLETED', '0.5', s.uuids[0], 'metadata.json'],
        ['', '', '', '', '', 'model.safetensors'],
        [trialId, '300', 'COMPLETED', '0.4', s.uuids[2], 'metadata.json'],
        ['', '', '', '', '', 'model.safetensors'],
      ]);
      expect(run.stdout).toContain(
        'This policy will delete 2 checkpoints with validations and 0 checkpoints without validations.\n' +
          PROMPT +
          SET_LINES(id),
      );
      expect(run.stdout.endsWith(SET_LINES(id))).toBe(true);
      expect(await after(s)).toEqual({
        policy: expect.objectContaining(NEW_POLICY) as unknown,
        states: COLLECTED,
        onDisk: [false, true, false],
      });
    }, 60_000);

    it('without --yes: "n" aborts, and nothing is changed or deleted', async () => {
      const s = await seedExperiment(m, { ended: true });
      const before = await after(s);
      const run = await pyDet(
        'n\n',
        'experiment',
        'set',
        'gc-policy',
        String(s.trial.experimentId),
        ...POLICY,
      );
      expect(run.code, run.stderr).toBe(0);
      expect(run.stdout).toContain('This policy will delete 2 checkpoints with validations');
      expect(run.stdout.endsWith(`${PROMPT}Aborting operations.\n`)).toBe(true);
      expect(await after(s)).toEqual(before);
      expect(before.states).toEqual(['STATE_COMPLETED', 'STATE_COMPLETED', 'STATE_COMPLETED']);
      expect(before.onDisk).toEqual([true, true, true]);
    }, 60_000);
  },
);
