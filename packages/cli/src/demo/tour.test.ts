import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';

import { loadFromPath } from '@determined-ts/sdk';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { runDemo } from '../commands/demo.js';
import { UsageError } from '../errors.js';
import type { CliIo } from '../io.js';
import { makeMoons } from './dataset.js';
import { evaluate } from './model.js';

/** A stream that keeps what is written, and calls `onLine` for each complete line. */
function capture(onLine: (line: string) => void = () => undefined) {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer | string, _encoding, callback) {
      const before = text;
      text += String(chunk);
      const fresh = text.slice(before.lastIndexOf('\n') + 1).split('\n');
      fresh.slice(0, -1).forEach(onLine);
      callback();
    },
  });
  return { stream, text: () => text };
}

function ioFor(dir: string, env: NodeJS.ProcessEnv, out = capture(), err = capture()): CliIo {
  return { stdout: out.stream, stderr: err.stream, env, cwd: dir };
}

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as { port: number };
  await new Promise<void>((done) => server.close(() => done()));
  return port;
}

function match(text: string, pattern: RegExp): RegExpMatchArray {
  const found = pattern.exec(text);
  expect(found, `${String(pattern)} in:\n${text}`).not.toBeNull();
  return found!;
}

describe('det demo', () => {
  let dir: string;
  // Only the isolated Determined config dir of the test setup; no DET_MASTER.
  const env = { DET_DEBUG_CONFIG_PATH: process.env.DET_DEBUG_CONFIG_PATH };

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'det-demo-test-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('runs the tour on an embedded master: best is not latest, and its accuracy is real', async () => {
    const out = capture();
    const err = capture();
    const code = await runDemo(
      { serve: false, dataDir: 'data', epochs: 4 },
      ioFor(dir, env, out, err),
    );
    const text = out.text();
    expect(err.text()).toBe('');
    expect(code).toBe(0);

    const [, url] = match(
      text,
      /^\[1\/5\] master: embedded master listening on (http:\/\/127\.0\.0\.1:\d+) /m,
    );
    const epochs = [
      ...text.matchAll(/^ {6}epoch (\d)\/4 .* validation_loss (\d\.\d{4}) .* checkpoint (\S+)$/gm),
    ];
    expect(epochs.map((e) => Number(e[1]))).toEqual([1, 2, 3, 4]);
    const [, bestUuid, bestStep, bestLoss, latestUuid, latestStep] = match(
      text,
      /^\[3\/5\] best checkpoint: best by validation_loss is (\S+) at step (\d+) \(validation_loss (\d\.\d{4})\); latest is (\S+) at step (\d+) /m,
    );
    expect(bestUuid).not.toBe(latestUuid);
    expect(latestUuid).toBe(epochs[3]![3]);
    expect(Number(latestStep)).toBe(4 * 25);
    expect(Number(bestStep)).toBeLessThan(Number(latestStep));
    // The best is the epoch with the smallest validation loss the tour printed.
    const smallest = epochs.reduce((a, b) => (Number(b[2]) < Number(a[2]) ? b : a));
    expect([smallest[3], smallest[2]]).toEqual([bestUuid, bestLoss]);

    const [, printed, validation] = match(
      text,
      /test accuracy (\d\.\d{4}) on 300 held-out points; reported validation_accuracy (\d\.\d{4})$/m,
    );
    for (const value of [Number(printed), Number(validation)]) {
      expect(value).toBeGreaterThanOrEqual(0);
      expect(value).toBeLessThanOrEqual(1);
    }
    // The printed accuracy is that of the downloaded checkpoint on the held-out split.
    const loaded = await loadFromPath(join(dir, 'data', 'downloads', bestUuid!));
    expect(loaded.kind === 'tfjs' && loaded.format).toBe('layers-model');
    if (loaded.kind === 'tfjs' && loaded.format === 'layers-model') {
      const data = makeMoons();
      expect(evaluate(loaded.model, data.test, data.classCount).accuracy.toFixed(4)).toBe(printed);
    }

    const [, version, resolved] = match(
      text,
      /^\[4\/5\] register: registered the best checkpoint as moons-classifier version (\d+) and pointed production at it\n {6}moons-classifier@production resolves to version (\d+), checkpoint (\S+)$/m,
    );
    expect([version, resolved]).toEqual(['1', '1']);
    expect(text).toMatch(new RegExp(`resolves to version 1, checkpoint ${bestUuid}$`, 'm'));
    expect(text).toContain('npx det model download moons-classifier@production');
    expect(text).toContain(`npx det trial download 1 --best -o checkpoints/best`);
    expect(text).toContain(`npx det checkpoint load ${bestUuid}`);
    expect(text).toContain(`new TrialReference(1, { master: '${url}' })`);
    // --no-serve: the master is gone once the tour returns.
    await expect(fetch(`${url}/api/v1/master`)).rejects.toThrow();
  }, 60_000);

  it('with serve, keeps the master up and prints the web UI until interrupted', async () => {
    const controller = new AbortController();
    let uiUrl: string | undefined;
    let answered: number | undefined;
    const out = capture((line) => {
      const found =
        /^web UI: (http:\/\/127\.0\.0\.1:\d+\/)trials\/\d+ \(sign in as determined/.exec(line);
      if (found !== null) {
        uiUrl = found[1];
        void fetch(`${uiUrl}api/v1/master`).then((response) => {
          answered = response.status;
          controller.abort();
        });
      }
    });
    const io = { ...ioFor(dir, env, out), signal: controller.signal };
    const code = await runDemo({ serve: true, dataDir: dir, epochs: 4 }, io);
    expect(code).toBe(0);
    expect(answered).toBe(200);
    await expect(fetch(`${uiUrl!}api/v1/master`)).rejects.toThrow();
  }, 60_000);

  it('names the failed step when DET_MASTER points at nothing', async () => {
    const port = await closedPort();
    const out = capture();
    const err = capture();
    const code = await runDemo(
      { serve: true, dataDir: dir },
      ioFor(dir, { ...env, DET_MASTER: `http://127.0.0.1:${port}` }, out, err),
    );
    expect(code).toBe(1);
    expect(err.text()).toMatch(
      /^det demo: step \[1\/5\] master failed: fetch failed: .*ECONNREFUSED/,
    );
    expect(out.text()).not.toContain('[2/5]');
  });

  it('refuses too few epochs as a usage error', async () => {
    await expect(runDemo({ serve: false, epochs: 3 }, ioFor(dir, env))).rejects.toThrow(
      new UsageError('--epochs must be an integer from 4 to 30, got 3'),
    );
  });
});
