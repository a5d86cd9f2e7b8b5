import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { createClient, init } from '@determined-ts/sdk';
import type { Client } from '@determined-ts/sdk';

/*
 * Seeds the master through the Core API, as training scripts would: an experiment with two
 * trials of six steps (training and validation metrics and a checkpoint every step, a few log
 * lines) and a second, smaller experiment.
 */

export const SEARCHER_METRIC = 'validation_loss';

/** validation_loss per step. Trial A's best (step 4) is the experiment's best; neither is latest. */
const TRIAL_A_LOSSES = [0.9, 0.6, 0.4, 0.25, 0.3, 0.35];
const TRIAL_B_LOSSES = [0.85, 0.55, 0.45, 0.38, 0.32, 0.34];
const STEP = 100;

export interface SeededCheckpoint {
  uuid: string;
  steps: number;
  validationLoss: number;
  /** The files the training run wrote (the Core API adds `metadata.json`). */
  files: Record<string, Buffer>;
}

export interface SeededTrial {
  id: number;
  /** In step order. */
  checkpoints: SeededCheckpoint[];
  best: SeededCheckpoint;
  latest: SeededCheckpoint;
}

export interface SeededExperiment {
  id: number;
  name: string;
  trials: SeededTrial[];
}

export interface Seed {
  /** Two trials; its best checkpoint is `trials[0].best`. */
  sweep: SeededExperiment;
  /** One trial of two steps, so the list has more than one row. */
  baseline: SeededExperiment;
}

/** The UI's path of a checkpoint. */
export const checkpointPath = (trial: SeededTrial, c: SeededCheckpoint): string =>
  `/trials/${trial.id}/checkpoints/${c.uuid}`;

export function firstTrial(experiment: SeededExperiment): SeededTrial {
  const trial = experiment.trials[0];
  if (trial === undefined) {
    throw new Error(`experiment ${experiment.id} was seeded without trials`);
  }
  return trial;
}

/** Signs in through the login route, as the SDK's tests do (no token cache). */
export async function signIn(baseUrl: string, username: string, password = ''): Promise<Client> {
  const anonymous = createClient({ baseUrl });
  const { token } = await anonymous.request<{ token: string }>('POST', '/api/v1/auth/login', {
    body: { username, password, isHashed: false },
  });
  return anonymous.withToken(token);
}

/** Gives `username` a password through the users API (as admin, whose password is empty). */
export async function setPassword(
  baseUrl: string,
  username: string,
  password: string,
): Promise<void> {
  const admin = await signIn(baseUrl, 'admin');
  const { users } = await admin.request<{ users: { id: number; username: string }[] }>(
    'GET',
    '/api/v1/users',
  );
  const user = users.find((u) => u.username === username);
  if (user === undefined) {
    throw new Error(`no user ${username}`);
  }
  await admin.request('PATCH', `/api/v1/users/${user.id}`, {
    body: { password, isHashed: false },
  });
}

async function runTrial(
  client: Client,
  opts: {
    name: string;
    externalId: string;
    trialName: string;
    storageDir: string;
    losses: number[];
  },
): Promise<{ experimentId: number; trial: SeededTrial }> {
  const core = await init({
    client,
    env: {},
    config: {
      name: opts.name,
      searcher: { name: 'single', metric: SEARCHER_METRIC, smaller_is_better: true },
      hparams: { learning_rate: 0.01, batch_size: 32, trial: opts.trialName },
      checkpoint_storage: { type: 'directory', container_path: opts.storageDir },
      external_experiment_id: opts.externalId,
      external_trial_id: opts.trialName,
    },
    shipOutput: false,
    closeOnExit: false,
  });
  const checkpoints: SeededCheckpoint[] = [];
  await core.run(async () => {
    for (const [i, validationLoss] of opts.losses.entries()) {
      const steps = (i + 1) * STEP;
      await core.train.reportTrainingMetrics(steps, { loss: validationLoss + 0.05 });
      await core.train.reportValidationMetrics(steps, {
        validation_loss: validationLoss,
        accuracy: 1 - validationLoss / 2,
      });
      // Under 1000 bytes each, so any size formatting shows the plain byte count.
      const files = {
        'model.json': Buffer.from(JSON.stringify({ layers: [2, 16, 2], step: steps })),
        'weights.bin': randomBytes(300 + i),
      };
      const uuid = await core.checkpoint.storePath({ steps_completed: steps }, async (path) => {
        for (const [name, bytes] of Object.entries(files)) {
          await writeFile(join(path, name), bytes);
        }
      });
      checkpoints.push({ uuid, steps, validationLoss, files });
      core.log(`step ${steps}: validation_loss ${validationLoss}, checkpoint ${uuid}`);
    }
  });
  const byLoss = [...checkpoints].sort((a, b) => a.validationLoss - b.validationLoss);
  const best = byLoss[0];
  const latest = checkpoints.at(-1);
  if (best === undefined || latest === undefined) {
    throw new Error('no checkpoints were seeded');
  }
  return {
    experimentId: core.info.experimentId,
    trial: { id: core.info.trialId, checkpoints, best, latest },
  };
}

/** Seeds the two experiments through the Core API, signed in as `determined`. */
export async function seed(baseUrl: string, storageDir: string): Promise<Seed> {
  const client = await signIn(baseUrl, 'determined');
  const sweepName = 'mnist-sweep';
  const a = await runTrial(client, {
    name: sweepName,
    externalId: 'e2e-sweep',
    trialName: 'a',
    storageDir,
    losses: TRIAL_A_LOSSES,
  });
  const b = await runTrial(client, {
    name: sweepName,
    externalId: 'e2e-sweep',
    trialName: 'b',
    storageDir,
    losses: TRIAL_B_LOSSES,
  });
  if (a.experimentId !== b.experimentId) {
    throw new Error('the two trials did not join one experiment');
  }
  const baselineName = 'cifar-baseline';
  const baseline = await runTrial(client, {
    name: baselineName,
    externalId: 'e2e-baseline',
    trialName: 'a',
    storageDir,
    losses: [0.7, 0.5],
  });
  return {
    sweep: { id: a.experimentId, name: sweepName, trials: [a.trial, b.trial] },
    baseline: { id: baseline.experimentId, name: baselineName, trials: [baseline.trial] },
  };
}
