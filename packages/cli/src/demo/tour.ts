import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

import { canonicalMasterUrl } from '@determined-ts/sdk';
import type { FetchLike } from '@determined-ts/sdk';

import type { CliIo } from '../io.js';
import { loadBestCheckpoint } from './best.js';
import { makeMoons } from './dataset.js';
import { startEmbeddedMaster } from './master.js';
import { detCommands, sdkSnippet } from './next-steps.js';
import { registerBest } from './register.js';
import { DemoStepError, StepPrinter } from './steps.js';
import { trainWithCoreApi } from './train.js';

/** `DemoOptions` with its defaults applied and checked. */
export interface TourOptions {
  /** An existing master to use instead of the embedded one. */
  master: string | undefined;
  serve: boolean;
  dataDir: string | undefined;
  epochs: number;
  port: number;
}

const MASTER_CHECK_TIMEOUT_MS = 10_000;

/** Fails with the reason when nothing answers as a Determined master at `url`. */
async function checkMaster(url: string, fetch: FetchLike, signal: AbortSignal | undefined) {
  const timeout = AbortSignal.timeout(MASTER_CHECK_TIMEOUT_MS);
  const response = await fetch(`${url}/api/v1/master`, {
    signal: signal === undefined ? timeout : AbortSignal.any([signal, timeout]),
  });
  if (!response.ok) {
    throw new Error(`GET ${url}/api/v1/master answered ${response.status}`);
  }
}

/** Resolves on Ctrl-C (SIGINT), SIGTERM or `signal`'s abort, whichever comes first. */
function waitForInterrupt(signal: AbortSignal | undefined): Promise<void> {
  return new Promise((done) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      signal?.removeEventListener('abort', stop);
      done();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    signal?.addEventListener('abort', stop, { once: true });
    if (signal?.aborted === true) {
      stop();
    }
  });
}

/**
 * The tour of issue 5: a master, a model trained through the Core API, the best checkpoint
 * picked, downloaded, loaded and measured, registered in the model registry behind the
 * `production` alias, and the same steps as `det` commands. Returns the
 * exit code: 0, or 1 after printing which step failed and why.
 */
export async function runTour(options: TourOptions, io: CliIo): Promise<number> {
  const printer = new StepPrinter(io.stdout, 5);
  const ownsWorkDir = options.dataDir === undefined;
  const workDir =
    options.dataDir === undefined
      ? await mkdtemp(join(tmpdir(), 'det-demo-'))
      : resolve(io.cwd, options.dataDir);
  const fetch: FetchLike = io.fetch ?? ((input, init) => globalThis.fetch(input, init));
  let embedded: Awaited<ReturnType<typeof startEmbeddedMaster>> | undefined;
  try {
    const masterUrl = await printer.run('master', async () => {
      await mkdir(workDir, { recursive: true });
      if (options.master !== undefined) {
        const url = canonicalMasterUrl(options.master);
        await checkMaster(url, fetch, io.signal);
        printer.line(
          `using the master at ${url}; checkpoints go to ${join(workDir, 'checkpoints')}`,
        );
        return url;
      }
      embedded = await startEmbeddedMaster(workDir, options.port, io.stderr);
      printer.line(
        `embedded master listening on ${embedded.url} (SQLite and checkpoints in ${workDir})`,
      );
      return embedded.url;
    });
    const data = makeMoons();
    const common = { master: masterUrl, env: io.env, fetch: io.fetch, workDir };
    const trained = await printer.run('train', () =>
      trainWithCoreApi({
        ...common,
        epochs: options.epochs,
        data,
        streams: { stdout: io.stdout, stderr: io.stderr },
        printer,
      }),
    );
    const picked = await printer.run('best checkpoint', () =>
      loadBestCheckpoint(
        { ...common, trialId: trained.trialId, test: data.test, classCount: data.classCount },
        printer,
      ),
    );
    await printer.run('register', () => registerBest({ ...common, best: picked.best }, printer));
    await printer.run('next', () => {
      const input = {
        master: masterUrl,
        experimentId: trained.experimentId,
        trialId: trained.trialId,
        bestUuid: picked.best.uuid,
      };
      printer.line('the same with det, against this master:');
      detCommands(input).forEach((command) => printer.detail(command));
      printer.detail('or in TypeScript:');
      sdkSnippet(input).forEach((line) => printer.detail(line));
      return Promise.resolve();
    });
    if (options.serve && embedded !== undefined) {
      io.stdout.write(
        `web UI: ${embedded.url}/trials/${trained.trialId} (sign in as determined, empty password; the master keeps running, Ctrl-C stops it)\n`,
      );
      await waitForInterrupt(io.signal);
    }
    return 0;
  } catch (err: unknown) {
    if (err instanceof DemoStepError) {
      io.stderr.write(`det demo: ${err.message}\n`);
      return 1;
    }
    throw err;
  } finally {
    await embedded?.close();
    // A temporary directory the checkpoints of an outside master point at is kept.
    if (ownsWorkDir && options.master === undefined) {
      await rm(workDir, { recursive: true, force: true });
    }
  }
}
