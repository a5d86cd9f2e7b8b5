import { rm } from 'node:fs/promises';
import { join } from 'node:path';

import * as tf from '@tensorflow/tfjs';
import { init, tfjsDirSaveHandler } from '@determined-ts/sdk';
import type { FetchLike } from '@determined-ts/sdk';

import type { CliStream } from '../io.js';
import { seededRandom } from './dataset.js';
import type { MoonsDataset } from './dataset.js';
import { RESTART_RATE, buildModel, evaluate, learningRate, trainEpoch } from './model.js';
import type { StepPrinter } from './steps.js';

/** The experiment's searcher metric: what "best checkpoint" means for this trial. */
export const SEARCHER_METRIC = 'validation_loss';
export const BATCH_SIZE = 32;
const SEED = 7;

export interface TrainOptions {
  master: string;
  env: NodeJS.ProcessEnv;
  fetch: FetchLike | undefined;
  /** Where checkpoints are stored (`directory` storage) and models are staged before upload. */
  workDir: string;
  epochs: number;
  data: MoonsDataset;
  /** Teed into the trial's logs, as a training script's output is. */
  streams: { stdout: CliStream; stderr: CliStream };
  printer: StepPrinter;
}

export interface EpochResult {
  epoch: number;
  stepsCompleted: number;
  learningRate: number;
  validationLoss: number;
  validationAccuracy: number;
  checkpoint: string;
}

export interface TrainResult {
  experimentId: number;
  trialId: number;
  epochs: EpochResult[];
}

function fixed(value: number): string {
  return value.toFixed(4);
}

/**
 * Trains the tour's model through the Core API as any training script would: one unmanaged
 * trial, training and validation metrics every epoch, and a checkpoint every epoch (TF.js
 * layers model plus metadata.json). The metrics are measured on the model as it is, epoch by epoch.
 */
export async function trainWithCoreApi(options: TrainOptions): Promise<TrainResult> {
  const { data, epochs, printer } = options;
  // tfjs asks, on the first tensor, for its native backend; the tour is pure JS on purpose.
  tf.enableProdMode();
  const core = await init({
    master: options.master,
    user: 'determined',
    env: options.env,
    fetch: options.fetch,
    config: {
      name: 'det-demo: two moons',
      description: 'The det demo tour: a small TF.js classifier trained through the Core API.',
      searcher: { name: 'single', metric: SEARCHER_METRIC, smaller_is_better: true },
      hparams: { epochs, batch_size: BATCH_SIZE, seed: SEED, restart_learning_rate: RESTART_RATE },
      checkpoint_storage: {
        type: 'directory',
        container_path: join(options.workDir, 'checkpoints'),
      },
    },
    outputStreams: options.streams,
    // The tour closes the trial itself, and its Ctrl-C handling belongs to the tour.
    closeOnExit: false,
  });
  const { experimentId, trialId } = core.info;
  printer.line(
    `experiment ${experimentId}, trial ${trialId}: ${epochs} epochs of a 2-16-16-2 network on ` +
      `"two moons" (${data.train.size} training, ${data.validation.size} validation points)`,
  );
  const stepsPerEpoch = Math.ceil(data.train.size / BATCH_SIZE);
  const model = buildModel(data.featureCount, data.classCount, SEED);
  const optimizer = tf.train.momentum(learningRate(1, epochs), 0.9);
  const random = seededRandom(SEED + 100);
  const staging = join(options.workDir, 'staging');
  const results: EpochResult[] = [];
  try {
    await core.run(async () => {
      for (let epoch = 1; epoch <= epochs; epoch++) {
        const rate = learningRate(epoch, epochs);
        const training = await trainEpoch(model, optimizer, data.train, {
          learningRate: rate,
          batchSize: BATCH_SIZE,
          classCount: data.classCount,
          random,
        });
        const validation = evaluate(model, data.validation, data.classCount);
        const steps = epoch * stepsPerEpoch;
        await core.train.reportTrainingMetrics(steps, {
          loss: training.loss,
          accuracy: training.accuracy,
          learning_rate: rate,
        });
        await core.train.reportValidationMetrics(steps, {
          validation_loss: validation.loss,
          validation_accuracy: validation.accuracy,
        });
        const dir = join(staging, `epoch-${epoch}`);
        await model.save(tfjsDirSaveHandler(dir));
        const uuid = await core.checkpoint.upload(dir, {
          steps_completed: steps,
          framework: 'tfjs',
          format: 'layers-model',
          epoch,
        });
        await rm(dir, { recursive: true, force: true });
        results.push({
          epoch,
          stepsCompleted: steps,
          learningRate: rate,
          validationLoss: validation.loss,
          validationAccuracy: validation.accuracy,
          checkpoint: uuid,
        });
        printer.detail(
          `epoch ${epoch}/${epochs}  lr ${rate.toFixed(3)}${epoch === epochs ? ' (warm restart)' : ''}  ` +
            `loss ${fixed(training.loss)}  accuracy ${fixed(training.accuracy)}  ` +
            `validation_loss ${fixed(validation.loss)}  validation_accuracy ${fixed(validation.accuracy)}  ` +
            `checkpoint ${uuid}`,
        );
      }
    });
  } finally {
    model.dispose();
    optimizer.dispose();
    await rm(staging, { recursive: true, force: true });
  }
  return { experimentId, trialId, epochs: results };
}
