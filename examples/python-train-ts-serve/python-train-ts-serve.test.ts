// Determined's own Python SDK (v0.38.1) trains against our master, writing TF.js checkpoints;
// the serve-best example serves the trial's best one from Node, and its predictions are the
// ones Python computed with the same weights.
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { loadConfig, silentLogger, startMaster } from '@determined-ts/master';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { findPythonSdk, harnessDir, runPython } from '../../test/python-harness.js';
import { serveBest } from '../serve-best/server.js';

const SCRIPT = join(import.meta.dirname, 'train.py');
const prerequisites = findPythonSdk();

interface Trained {
  trial_id: number;
  best: { uuid: string; validation_loss: number; probe: number[][] };
  probe_inputs: number[][];
}

describe.skipIf(prerequisites.missing !== undefined)(
  prerequisites.missing === undefined
    ? 'Python trains with Determined’s SDK, Node serves'
    : `Python trains with Determined’s SDK, Node serves (skipped: missing ${prerequisites.missing})`,
  () => {
    let dir: string;
    let pythonPath: string;
    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'det-py-ts-'));
      const source = prerequisites.source;
      if (source === undefined) {
        throw new Error('no harness source');
      }
      pythonPath = await harnessDir(source, dir);
    }, 120_000);
    afterAll(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    it('serves the best checkpoint Python reported, predicting what Python predicted', async () => {
      const config = loadConfig(['--port', '0', '--data-dir', join(dir, 'data')], {});
      if (config === 'help') {
        throw new Error('loadConfig returned help');
      }
      const master = await startMaster(config, silentLogger);
      try {
        await mkdir(join(dir, 'home'));
        const run = await runPython(
          SCRIPT,
          ['--storage', join(dir, 'storage')],
          {
            HOME: join(dir, 'home'),
            PYTHONPATH: pythonPath,
            PYTHONDONTWRITEBYTECODE: '1',
            DET_MASTER: master.url,
            DET_DEBUG_CONFIG_PATH: join(dir, 'py-config'),
          },
          { timeoutMs: 170_000 },
        );
        expect(run.code, `train.py failed:\n${run.stderr}\n${run.stdout}`).toBe(0);
        const trained = JSON.parse(run.stdout.trim().split('\n').at(-1) ?? '') as Trained;

        const serving = await serveBest({
          source: { trial: trained.trial_id },
          downloadDir: join(dir, 'serving'),
          session: { master: master.url, env: { DET_DEBUG_CONFIG_PATH: join(dir, 'ts-config') } },
          log: () => undefined,
        });
        try {
          expect(serving.current()).toBe(trained.best.uuid);
          const res = await fetch(`${serving.url}/predict`, {
            method: 'POST',
            body: JSON.stringify({ inputs: trained.probe_inputs }),
          });
          expect(res.status).toBe(200);
          const answer = (await res.json()) as { checkpoint: string; outputs: number[][] };
          expect(answer.checkpoint).toBe(trained.best.uuid);
          answer.outputs.forEach((row, i) => {
            row.forEach((value, j) => {
              expect(value).toBeCloseTo(trained.best.probe[i]?.[j] ?? NaN, 5);
            });
          });
        } finally {
          await serving.close();
        }
      } finally {
        await master.close();
      }
    }, 240_000);
  },
);
