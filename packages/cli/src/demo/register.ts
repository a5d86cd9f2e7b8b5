import { ApiError, Determined } from '@determined-ts/sdk';
import type { Checkpoint, FetchLike, Model } from '@determined-ts/sdk';

import type { StepPrinter } from './steps.js';

/** The registry model the tour registers its best checkpoint to. */
export const DEMO_MODEL = 'moons-classifier';
export const DEMO_ALIAS = 'production';

export interface RegisterOptions {
  master: string;
  env: NodeJS.ProcessEnv;
  fetch: FetchLike | undefined;
  best: Checkpoint;
}

/** The demo model, created on first use: a tour run again against one master adds a version. */
async function demoModel(det: Determined): Promise<Model> {
  try {
    return await det.getModel(DEMO_MODEL);
  } catch (err: unknown) {
    if (!(err instanceof ApiError && err.status === 404)) {
      throw err;
    }
    return det.createModel(DEMO_MODEL, {
      description: 'two-moons classifier trained by det demo',
      labels: ['demo', 'tfjs'],
    });
  }
}

/**
 * What a team does once a checkpoint is good enough: registers it as the model's next version,
 * points the `production` alias at it, and resolves the alias back, as a serving job would.
 */
export async function registerBest(
  options: RegisterOptions,
  printer: StepPrinter,
): Promise<{ version: number }> {
  const det = new Determined({
    master: options.master,
    user: 'determined',
    env: options.env,
    fetch: options.fetch,
  });
  const model = await demoModel(det);
  const registered = await model.registerVersion(options.best.uuid);
  await model.setAlias(DEMO_ALIAS, registered.version);
  const serving = await (await det.getModel(DEMO_MODEL)).getVersion(DEMO_ALIAS);
  if (serving.checkpoint.uuid !== options.best.uuid) {
    throw new Error(
      `${DEMO_MODEL}@${DEMO_ALIAS} resolved to checkpoint ${serving.checkpoint.uuid}, not ${options.best.uuid}`,
    );
  }
  printer.line(
    `registered the best checkpoint as ${DEMO_MODEL} version ${registered.version} and pointed ${DEMO_ALIAS} at it`,
  );
  printer.detail(
    `${DEMO_MODEL}@${DEMO_ALIAS} resolves to version ${serving.version}, checkpoint ${serving.checkpoint.uuid}`,
  );
  return { version: registered.version };
}
