/**
 * Serves predictions from the best checkpoint of a trial, or from the version a model alias
 * points at, and moves to a better one when it appears: it polls the master, loads the new
 * checkpoint beside the old one, then swaps. Requests never wait on a download and never fail
 * for a swap: each runs on the model it started with, and an old model is released once its
 * last request has answered.
 *
 * TF.js layers models and ONNX models; POST /predict {"inputs": [[…], …]} answers
 * {"checkpoint": uuid, "outputs": [[…], …]}; GET /ready says which checkpoint serves.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

import { Determined, TrialReference } from '@determined-ts/sdk';
import type { Checkpoint, LoadedCheckpoint, SessionOptions } from '@determined-ts/sdk';
import * as tf from '@tensorflow/tfjs';

/** What to serve: a trial's best checkpoint, or a model version (an alias, a number, latest). */
export type Source = { trial: number } | { model: string; version: number | string };

export interface ServeOptions {
  source: Source;
  /** Where checkpoints are downloaded, one directory per uuid. */
  downloadDir: string;
  /** How the SDK reaches and signs in to the master (`master`, or DET_MASTER). */
  session?: SessionOptions;
  port?: number;
  host?: string;
  /** @default 10_000 */
  pollMs?: number;
  log?: (line: string) => void;
}

/** A loaded checkpoint and the requests running on it. */
interface Served {
  uuid: string;
  predict(inputs: number[][]): Promise<number[][]>;
  release(): Promise<void>;
  running: number;
  retired: boolean;
}

export interface Serving {
  url: string;
  /** The uuid of the checkpoint new requests go to. */
  current(): string;
  /** Looks for a better checkpoint now, and swaps to it; false when nothing changed. */
  refresh(): Promise<boolean>;
  close(): Promise<void>;
}

function resolver(options: ServeOptions): () => Promise<Checkpoint> {
  const { source, session = {} } = options;
  if ('trial' in source) {
    const trial = new TrialReference(source.trial, session);
    return () => trial.topCheckpoint();
  }
  const determined = new Determined(session);
  return async () => {
    const model = await determined.getModel(source.model);
    const version = await model.getVersion(source.version);
    if (version === null) {
      throw new Error(`model ${source.model} has no version ${source.version}`);
    }
    return version.checkpoint;
  };
}

/** The model behind a loaded checkpoint, as a function of rows of numbers. */
async function predictorOf(
  loaded: LoadedCheckpoint,
): Promise<Omit<Served, 'uuid' | 'running' | 'retired'>> {
  if (loaded.kind === 'tfjs' && loaded.format === 'layers-model') {
    const { model } = loaded;
    return {
      predict: (inputs) =>
        Promise.resolve(
          tf.tidy(
            () => (model.predict(tf.tensor2d(inputs)) as tf.Tensor).arraySync() as number[][],
          ),
        ),
      release: () => {
        model.dispose();
        return Promise.resolve();
      },
    };
  }
  if (loaded.kind === 'onnx') {
    const { session, inputNames, outputNames } = loaded;
    const ort = await import('onnxruntime-node');
    const [input = '', output = ''] = [inputNames[0], outputNames[0]];
    return {
      predict: async (inputs) => {
        const width = inputs[0]?.length ?? 0;
        const x = new ort.Tensor('float32', Float32Array.from(inputs.flat()), [
          inputs.length,
          width,
        ]);
        const y = (await session.run({ [input]: x }))[output];
        if (y === undefined) {
          throw new Error(`the model has no output ${output}`);
        }
        const data = Array.from(y.data as Float32Array);
        const columns = data.length / inputs.length;
        return inputs.map((_, i) => data.slice(i * columns, (i + 1) * columns));
      },
      release: () => session.release(),
    };
  }
  throw new Error(`cannot serve a ${loaded.kind} checkpoint: TF.js layers models and ONNX only`);
}

/** `inputs` as rows of finite numbers of one width, or a message saying what is wrong. */
function parseInputs(body: unknown): number[][] | string {
  const inputs = (body as { inputs?: unknown } | null)?.inputs;
  if (!Array.isArray(inputs) || inputs.length === 0) {
    return 'inputs must be a non-empty array of rows';
  }
  const width = (inputs[0] as unknown[] | undefined)?.length;
  for (const [i, row] of inputs.entries()) {
    if (!Array.isArray(row) || row.length !== width || width === 0) {
      return `inputs[${i}] must be an array of ${String(width)} numbers`;
    }
    if (!row.every((v) => typeof v === 'number' && Number.isFinite(v))) {
      return `inputs[${i}] holds something other than a finite number`;
    }
  }
  return inputs as number[][];
}

async function readJson(req: IncomingMessage, limit = 1 << 20): Promise<unknown> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) {
      throw new Error(`body larger than ${limit} bytes`);
    }
    chunks.push(chunk);
  }
  return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

export async function serveBest(options: ServeOptions): Promise<Serving> {
  const log = options.log ?? ((line: string) => process.stdout.write(`${line}\n`));
  const resolve = resolver(options);

  const load = async (checkpoint: Checkpoint): Promise<Served> => {
    const loaded = await checkpoint.load(join(options.downloadDir, checkpoint.uuid));
    return { uuid: checkpoint.uuid, running: 0, retired: false, ...(await predictorOf(loaded)) };
  };
  const retire = async (served: Served): Promise<void> => {
    served.retired = true;
    if (served.running === 0) {
      await served.release();
    }
  };

  let current = await load(await resolve());
  log(`serving checkpoint ${current.uuid}`);

  let refreshing: Promise<boolean> | undefined;
  const refresh = (): Promise<boolean> =>
    (refreshing ??= (async () => {
      try {
        const checkpoint = await resolve();
        if (checkpoint.uuid === current.uuid) {
          return false;
        }
        const next = await load(checkpoint);
        const previous = current;
        current = next;
        log(`serving checkpoint ${next.uuid} (was ${previous.uuid})`);
        await retire(previous);
        return true;
      } finally {
        refreshing = undefined;
      }
    })());

  const server = createServer((req, res) => {
    (async () => {
      if (req.method === 'GET' && req.url === '/ready') {
        send(res, 200, { checkpoint: current.uuid });
        return;
      }
      if (req.method !== 'POST' || req.url !== '/predict') {
        send(res, 404, { error: `no route ${req.method ?? ''} ${req.url ?? ''}` });
        return;
      }
      let inputs: number[][] | string;
      try {
        inputs = parseInputs(await readJson(req));
      } catch (err: unknown) {
        send(res, 400, { error: `invalid JSON body: ${(err as Error).message}` });
        return;
      }
      if (typeof inputs === 'string') {
        send(res, 400, { error: inputs });
        return;
      }
      // The model this request started on answers it, even if a swap happens meanwhile.
      const served = current;
      served.running += 1;
      try {
        send(res, 200, { checkpoint: served.uuid, outputs: await served.predict(inputs) });
      } catch (err: unknown) {
        send(res, 400, { error: `the model refused the inputs: ${(err as Error).message}` });
      } finally {
        served.running -= 1;
        if (served.retired && served.running === 0) {
          await served.release();
        }
      }
    })().catch((err: unknown) => {
      // A client gone mid-answer, or a model that failed to release: logged, never a crash.
      log(`request failed: ${(err as Error).message}`);
      if (!res.headersSent) {
        send(res, 500, { error: 'internal error' });
      }
    });
  });

  // Polling: a failed look (the master restarting, say) leaves the current model serving.
  let timer: NodeJS.Timeout | undefined;
  const poll = (): void => {
    timer = setTimeout(() => {
      refresh().then(
        () => poll(),
        (err: unknown) => {
          log(`could not look for a better checkpoint: ${(err as Error).message}`);
          poll();
        },
      );
    }, options.pollMs ?? 10_000);
  };
  poll();

  await new Promise<void>((done) =>
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', done),
  );
  const { address, port } = server.address() as AddressInfo;
  return {
    url: `http://${address}:${port}`,
    current: () => current.uuid,
    refresh,
    close: async () => {
      clearTimeout(timer);
      await refreshing?.catch(() => false);
      await new Promise<void>((done) => server.close(() => done()));
      await retire(current);
    },
  };
}

/** `SERVE_TRIAL=42` or `SERVE_MODEL=name@alias`, with `DET_MASTER`, `PORT`, `POLL_MS`. */
function sourceFromEnv(env: NodeJS.ProcessEnv): Source {
  if (env.SERVE_TRIAL !== undefined) {
    return { trial: Number(env.SERVE_TRIAL) };
  }
  const [model = '', version = 'latest'] = (env.SERVE_MODEL ?? '').split('@');
  if (model === '') {
    throw new Error('set SERVE_TRIAL=<trial id> or SERVE_MODEL=<name>[@<alias or version>]');
  }
  return { model, version: /^\d+$/.test(version) ? Number(version) : version };
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const serving = await serveBest({
    source: sourceFromEnv(process.env),
    downloadDir: process.env.DOWNLOAD_DIR ?? 'checkpoints',
    port: Number(process.env.PORT ?? 8000),
    pollMs: Number(process.env.POLL_MS ?? 10_000),
  });
  process.stdout.write(`listening on ${serving.url}\n`);
  process.once('SIGINT', () => void serving.close());
  process.once('SIGTERM', () => void serving.close());
}
