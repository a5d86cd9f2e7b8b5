// Checkpoints cross between our Core API and Determined's real Python SDK (v0.38.1), both
// talking to our master over loopback: the Python SDK downloads a checkpoint uploaded from TS
// (AUTO and MASTER modes), and a checkpoint uploaded by Python's core_v2 is selected through
// our TrialReference and its files read. Skips when Python or the harness is absent.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { downloadCheckpoint } from '../download/download.js';
import { TrialReference } from '../trial-reference.js';
import { loopbackMaster, makeTree, readTree } from '../../test/core-helpers.js';
import type { Tree } from '../../test/core-helpers.js';
import { findPythonSdk, harnessDir, runPython } from '../../../../test/python-harness.js';
import { init } from './init.js';

const SCRIPT = String.raw`
import json, pathlib, sys, warnings
warnings.filterwarnings("ignore", category=FutureWarning)
from determined import core
from determined.experimental import client, core_v2

args = json.loads(sys.argv[1])
client.login(master=args["master"], user="determined", password="")

# 1. Download the checkpoint TypeScript uploaded, both ways.
ckpt = client.get_checkpoint(args["ts_uuid"])
ckpt.download(args["auto_dir"], mode=client.DownloadMode.AUTO)
ckpt.download(args["master_dir"], mode=client.DownloadMode.MASTER)

# 2. Train with core_v2 and store checkpoints with store_path.
core_v2.init(
    config=core_v2.Config(
        name="py-core",
        searcher={"name": "single", "metric": "val_loss", "smaller_is_better": True},
        hparams={"lr": 0.5},
        checkpoint_storage={"type": "directory", "container_path": args["py_storage"]},
    ),
    # AUTO would import torch for its tensorboard writer.
    tensorboard_mode=core.TensorboardMode.MANUAL,
)
trial_id = core_v2.info.trial.trial_id
uuids = {}
for steps, loss in [(10, 0.7), (20, 0.2), (30, 0.4)]:
    core_v2.train.report_training_metrics(steps_completed=steps, metrics={"loss": loss})
    with core_v2.checkpoint.store_path({"steps_completed": steps, "by": "python"}) as (path, uuid):
        (path / "model.bin").write_bytes(bytes(range(256)) * steps)
        (path / "sub").mkdir()
        (path / "sub" / "note.txt").write_text("step %d\n" % steps)
        (path / "sub" / "empty.txt").write_bytes(b"")
    uuids[steps] = uuid
    core_v2.train.report_validation_metrics(steps_completed=steps, metrics={"val_loss": loss})
core_v2.close()
print(json.dumps({"trial_id": trial_id, "uuids": uuids}))
`;

/** The files Python's loop above writes at `steps`. */
function pythonFiles(steps: number): Tree {
  const block = Uint8Array.from({ length: 256 }, (_, i) => i);
  const model = new Uint8Array(256 * steps);
  for (let i = 0; i < steps; i += 1) {
    model.set(block, i * 256);
  }
  return { 'model.bin': model, 'sub/note.txt': `step ${steps}\n`, 'sub/empty.txt': '' };
}

const prerequisites = findPythonSdk();
if (prerequisites.missing !== undefined) {
  process.stderr.write(`core interop test skipped: missing ${prerequisites.missing}\n`);
}

describe.skipIf(prerequisites.missing !== undefined)('Core API ⇄ Determined Python SDK', () => {
  let scratch = '';
  let pythonPath = '';
  beforeAll(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'det-core-py-'));
    if (prerequisites.source === undefined) {
      throw new Error('no harness source');
    }
    pythonPath = await harnessDir(prerequisites.source, scratch);
  }, 120_000);
  afterAll(async () => {
    await rm(scratch, { recursive: true, force: true });
  });

  it('each side reads the checkpoints the other uploaded, byte for byte', async () => {
    const m = await loopbackMaster();
    try {
      // TypeScript trains and uploads.
      const tsStorage = join(m.dir, 'ts-storage');
      const src = join(m.dir, 'ts-src');
      await makeTree(src, {
        'weights.bin': Uint8Array.from({ length: 70_000 }, (_, i) => (i * 31) % 251),
        'nested/deeper/config.json': '{"layers":2}',
        'nested/empty.txt': '',
        'empty-dir': null,
      });
      const core = await init({
        master: m.url,
        env: m.env,
        config: {
          name: 'ts-core',
          searcher: { metric: 'val_loss' },
          checkpoint_storage: { type: 'directory', container_path: tsStorage },
        },
      });
      const tsUuid = await core.checkpoint.upload(src, { steps_completed: 5, by: 'ts' });
      await core.train.reportValidationMetrics(5, { val_loss: 0.5 });
      await core.close();
      const uploaded = await readTree(join(tsStorage, tsUuid));

      // Python downloads it, then trains with core_v2.
      const home = join(m.dir, 'py-home');
      await mkdir(home);
      const script = join(m.dir, 'interop.py');
      await writeFile(script, SCRIPT);
      const args = {
        master: m.url,
        ts_uuid: tsUuid,
        auto_dir: join(m.dir, 'py-auto'),
        master_dir: join(m.dir, 'py-master'),
        py_storage: join(m.dir, 'py-storage'),
      };
      const run = await runPython(script, [JSON.stringify(args)], {
        HOME: home,
        PYTHONPATH: pythonPath,
        PYTHONDONTWRITEBYTECODE: '1',
        DET_MASTER: m.url,
        DET_DEBUG_CONFIG_PATH: join(home, 'det-config'),
      });
      expect(run.code, `python failed:\n${run.stderr}\n${run.stdout}`).toBe(0);

      expect(uploaded['metadata.json']?.toString()).toBe(
        '{\n  "steps_completed": 5,\n  "by": "ts"\n}',
      );
      expect(await readTree(args.auto_dir)).toEqual(uploaded);
      // The master's archive carries regular files only, so empty directories do not travel.
      const files = Object.fromEntries(
        Object.entries(uploaded).filter(([path]) => !path.endsWith('/')),
      );
      const viaMaster = await readTree(args.master_dir);
      expect(
        Object.fromEntries(Object.entries(viaMaster).filter(([path]) => !path.endsWith('/'))),
      ).toEqual(files);

      // TypeScript selects Python's checkpoints and reads their files.
      const summary = JSON.parse(run.stdout.trim().split('\n').at(-1) ?? '') as {
        trial_id: number;
        uuids: Record<string, string>;
      };
      const ref = new TrialReference(summary.trial_id, { master: m.url, env: m.env });
      const best = await ref.topCheckpoint();
      const latest = await ref.selectCheckpoint({ latest: true });
      expect(best.uuid).toBe(summary.uuids['20']);
      expect(latest.uuid).toBe(summary.uuids['30']);
      for (const [checkpoint, steps] of [
        [best, 20],
        [latest, 30],
      ] as const) {
        expect(checkpoint).toMatchObject({
          batchNumber: steps,
          metadata: { steps_completed: steps, by: 'python' },
          resources: {
            'model.bin': 256 * steps,
            'sub/': 0,
            'sub/note.txt': `step ${steps}\n`.length,
            'sub/empty.txt': 0,
          },
          validation: { metrics: { validationMetrics: { val_loss: steps === 20 ? 0.2 : 0.4 } } },
        });
        // The Python SDK records no checksums; they are our extension.
        expect(checkpoint.digests).toEqual({});
        expect(checkpoint.crc32c).toEqual({});
        const config = checkpoint.storageConfig as { type: string; container_path: string };
        expect(config).toMatchObject({ type: 'directory', container_path: args.py_storage });
        const inStorage = await readTree(join(config.container_path, checkpoint.uuid));
        for (const mode of ['direct', 'master'] as const) {
          const dir = await downloadCheckpoint(checkpoint, join(m.dir, `ts-${mode}-${steps}`), {
            mode,
          });
          expect(await readTree(dir), mode).toEqual(inStorage);
        }
        for (const [path, content] of Object.entries(pythonFiles(steps))) {
          expect(inStorage[path], path).toEqual(Buffer.from(content ?? ''));
        }
        expect(JSON.parse(inStorage['metadata.json']?.toString() ?? '')).toEqual({
          steps_completed: steps,
          by: 'python',
        });
      }
    } finally {
      await m.close();
    }
  }, 120_000);
});
