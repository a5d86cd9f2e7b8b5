// The serve-best example against a real master on loopback: a trial reports checkpoints through
// the Core API while clients keep asking for predictions; the service moves to the better
// checkpoint (and, by alias, to the version the alias is moved to) with no failed request.
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

import { Determined, init, tfjsDirSaveHandler } from '@determined-ts/sdk';
import type { CoreContext } from '@determined-ts/sdk';
import * as tf from '@tensorflow/tfjs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { loopbackMaster } from '../../packages/sdk/test/core-helpers.js';
import type { TestMaster } from '../../packages/sdk/test/core-helpers.js';
import { serveBest } from './server.js';
import type { Serving } from './server.js';

const X = [
  [1, 2, 3, 4],
  [-1, 0, 0.5, 2],
];

/** A model whose weights depend on `seed`: each checkpoint predicts differently. */
function makeModel(seed: number): tf.LayersModel {
  const init = (s: number) => tf.initializers.glorotUniform({ seed: s });
  return tf.sequential({
    layers: [
      tf.layers.dense({ units: 3, inputShape: [4], kernelInitializer: init(seed) }),
      tf.layers.dense({ units: 2, kernelInitializer: init(seed + 1) }),
    ],
  });
}

const predict = (model: tf.LayersModel): number[][] =>
  (model.predict(tf.tensor2d(X)) as tf.Tensor).arraySync() as number[][];

let m: TestMaster;
let core: CoreContext;
let steps = 0;
let serving: Serving | undefined;

beforeEach(async () => {
  m = await loopbackMaster();
  core = await init({
    master: m.url,
    env: m.env,
    config: { searcher: { metric: 'val_loss' }, checkpoint_storage: join(m.dir, 'storage') },
  });
  steps = 0;
});

afterEach(async () => {
  await serving?.close();
  serving = undefined;
  await core.close();
  await m.close();
});

/** Reports a checkpoint of `model` (or of the files in `dir`) with its validation loss. */
async function report(loss: number, files: tf.LayersModel | string): Promise<string> {
  steps += 100;
  const src = join(m.dir, `out-${steps}`);
  if (typeof files === 'string') {
    await mkdir(src, { recursive: true });
    await copyFile(files, join(src, 'model.onnx'));
  } else {
    await files.save(tfjsDirSaveHandler(src));
  }
  const metadata =
    typeof files === 'string'
      ? { steps_completed: steps, framework: 'onnx' }
      : { steps_completed: steps, framework: 'tfjs', format: 'layers-model' };
  const uuid = await core.checkpoint.upload(src, metadata);
  await core.train.reportValidationMetrics(steps, { val_loss: loss });
  return uuid;
}

interface Answer {
  status: number;
  checkpoint?: string;
  outputs?: number[][];
}

/** Clients asking for predictions until `stop` is called; every answer is kept. */
function clients(url: string, n = 4) {
  const answers: Answer[] = [];
  let stopped = false;
  const loops = Array.from({ length: n }, async () => {
    while (!stopped) {
      const res = await fetch(`${url}/predict`, {
        method: 'POST',
        body: JSON.stringify({ inputs: X }),
      });
      answers.push({ status: res.status, ...((await res.json()) as Omit<Answer, 'status'>) });
    }
  });
  return {
    answers,
    stop: async () => {
      stopped = true;
      await Promise.all(loops);
    },
  };
}

const closeTo = (a: number[][] | undefined, b: number[][]): boolean =>
  a !== undefined &&
  a.every((row, i) => row.every((v, j) => Math.abs(v - (b[i]?.[j] ?? NaN)) < 1e-5));

describe('serve-best', () => {
  it('serves the best checkpoint of a trial and moves to a better one with no failed request', async () => {
    const first = makeModel(1);
    const better = makeModel(7);
    const worse = makeModel(13);
    const firstUuid = await report(0.5, first);
    serving = await serveBest({
      source: { trial: core.info.trialId },
      downloadDir: join(m.dir, 'serving'),
      session: { master: m.url, env: m.env },
      pollMs: 50,
      log: () => undefined,
    });
    expect(serving.current()).toBe(firstUuid);
    const load = clients(serving.url);
    await expect.poll(() => load.answers.length, { timeout: 20_000 }).toBeGreaterThan(10);

    await report(0.9, worse); // not better: nothing moves
    const betterUuid = await report(0.1, better);
    const url = serving.url;
    await expect
      .poll(async () => ((await (await fetch(`${url}/ready`)).json()) as Answer).checkpoint, {
        timeout: 20_000,
      })
      .toBe(betterUuid);
    const seen = load.answers.length;
    await expect.poll(() => load.answers.length, { timeout: 20_000 }).toBeGreaterThan(seen + 10);
    await load.stop();

    expect(load.answers.filter((a) => a.status !== 200)).toEqual([]);
    const by = (uuid: string) => load.answers.filter((a) => a.checkpoint === uuid);
    expect(by(firstUuid).length).toBeGreaterThan(0);
    expect(by(betterUuid).length).toBeGreaterThan(0);
    expect(by(firstUuid).length + by(betterUuid).length).toBe(load.answers.length);
    expect(by(firstUuid).every((a) => closeTo(a.outputs, predict(first)))).toBe(true);
    expect(by(betterUuid).every((a) => closeTo(a.outputs, predict(better)))).toBe(true);
    expect(closeTo(predict(first), predict(better))).toBe(false);
  }, 60_000);

  it('follows a model alias: moving the alias moves the service', async () => {
    const a = makeModel(3);
    const b = makeModel(5);
    const uuidA = await report(0.4, a);
    const uuidB = await report(0.6, b);
    const determined = new Determined({ master: m.url, env: m.env });
    const model = await determined.createModel('serve-best-test');
    const v1 = await model.registerVersion(uuidA);
    const v2 = await model.registerVersion(uuidB);
    await model.setAlias('production', v1);
    serving = await serveBest({
      source: { model: 'serve-best-test', version: 'production' },
      downloadDir: join(m.dir, 'serving'),
      session: { master: m.url, env: m.env },
      pollMs: 60_000, // moved by hand below
      log: () => undefined,
    });
    expect(serving.current()).toBe(uuidA);
    expect(await serving.refresh()).toBe(false);
    await model.setAlias('production', v2);
    expect(await serving.refresh()).toBe(true);
    expect(serving.current()).toBe(uuidB);
    const res = await fetch(`${serving.url}/predict`, {
      method: 'POST',
      body: JSON.stringify({ inputs: X }),
    });
    const answer = (await res.json()) as Answer;
    expect(answer.checkpoint).toBe(uuidB);
    expect(closeTo(answer.outputs, predict(b))).toBe(true);
  }, 60_000);

  it('answers bad input with a 400 naming the problem', async () => {
    await report(0.5, makeModel(1));
    serving = await serveBest({
      source: { trial: core.info.trialId },
      downloadDir: join(m.dir, 'serving'),
      session: { master: m.url, env: m.env },
      log: () => undefined,
    });
    const ask = async (body: string) => {
      const res = await fetch(`${serving?.url ?? ''}/predict`, { method: 'POST', body });
      return { status: res.status, ...((await res.json()) as { error: string }) };
    };
    expect(await ask('{')).toMatchObject({ status: 400, error: /^invalid JSON body/ });
    expect(await ask('{"inputs": []}')).toMatchObject({ status: 400, error: /non-empty array/ });
    expect(await ask('{"inputs": [[1, 2, 3, 4], [1]]}')).toMatchObject({
      status: 400,
      error: 'inputs[1] must be an array of 4 numbers',
    });
    expect(await ask('{"inputs": [[1, 2, "x", 4]]}')).toMatchObject({
      status: 400,
      error: /inputs\[0\] holds something other than a finite number/,
    });
    expect(await ask('{"inputs": [[1, 2, 3]]}')).toMatchObject({
      status: 400,
      error: /^the model refused the inputs/,
    });
  });

  const ONNX = new URL('../../../shared/fixtures/onnx/mlp_helper.onnx', import.meta.url);
  it.skipIf(!existsSync(ONNX))(
    'serves an ONNX checkpoint (skipped when ../shared/fixtures is absent)',
    async () => {
      const expected = JSON.parse(await readFile(`${ONNX.pathname}.expected.json`, 'utf8')) as {
        input: { x: number[][] };
        output: { y: number[][] };
      };
      const uuid = await report(0.5, ONNX.pathname);
      serving = await serveBest({
        source: { trial: core.info.trialId },
        downloadDir: join(m.dir, 'serving'),
        session: { master: m.url, env: m.env },
        log: () => undefined,
      });
      const res = await fetch(`${serving.url}/predict`, {
        method: 'POST',
        body: JSON.stringify({ inputs: expected.input.x }),
      });
      const answer = (await res.json()) as Answer;
      expect(answer.checkpoint).toBe(uuid);
      expect(closeTo(answer.outputs, expected.output.y)).toBe(true);
    },
  );
});
