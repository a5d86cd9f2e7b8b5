// Checkpoints in Azure Blob storage cross between Determined's real Python SDK (v0.38.1, with
// Debian's azure-storage-blob) and ours, through azurite and our master over loopback: a core_v2
// run's best checkpoint is picked and downloaded by our SDK and `det` in every mode (Determined's
// master refuses Azure archives; ours serves them), and the Python SDK downloads one our Core API
// uploaded in every mode. Skips when Python, the harness or azure-storage-blob is absent.
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { ContainerClient } from '@azure/storage-blob';
import { TrialReference, init } from '@determined-ts/sdk';
import type { Checkpoint, CheckpointStorageConfig, DownloadEvent } from '@determined-ts/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startAzurite } from '../../storage/test/azurite.js';
import type { AzuriteHandle } from '../../storage/test/azurite.js';
import { loopbackMaster, makeTree, sha256 } from '../../sdk/test/core-helpers.js';
import type { TestMaster } from '../../sdk/test/core-helpers.js';
import { PYTHON, findPythonSdk, harnessDir, runPython } from '../../../test/python-harness.js';
import { runDet } from '../test/helpers.js';
import { PY_PATTERN, digests, digestsOf, pattern, pythonOutput } from '../test/interop.js';
import type { Digests } from '../test/interop.js';

const MiB = 1024 * 1024;
const PY_CONTAINER = 'det-py';
const TS_CONTAINER = 'det-ts';

const PY_PRELUDE = String.raw`
import json, logging, sys, warnings
warnings.filterwarnings("ignore", category=FutureWarning)
logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
logging.getLogger("azure").setLevel(logging.WARNING)
from determined import core
from determined.common.storage import azure_client
from determined.experimental import client, core_v2

args = json.loads(sys.argv[1])
client.login(master=args["master"], user="determined", password="")

# Every blob the SDK's Azure client reads or writes, as [operation, container path, blob]: a
# master-mode download must make none.
azure_calls = []
def _recording(operation):
    original = getattr(azure_client.AzureStorageClient, operation)
    def wrapper(self, container, blob, filename):
        azure_calls.append([operation, container, blob])
        return original(self, container, blob, filename)
    setattr(azure_client.AzureStorageClient, operation, wrapper)
_recording("put")
_recording("get")
${PY_PATTERN}`;

/** core_v2 trains and checkpoints into Azure; the best checkpoint (steps 20) is not the latest. */
const TRAIN_SCRIPT = String.raw`${PY_PRELUDE}
core_v2.init(
    config=core_v2.Config(
        name="py-azure",
        searcher={"name": "single", "metric": "val_loss", "smaller_is_better": True},
        hparams={"lr": 0.5},
        checkpoint_storage=args["storage"],
    ),
    tensorboard_mode=core.TensorboardMode.MANUAL,
)
uuids = {}
for steps, loss, size in args["checkpoints"]:
    core_v2.train.report_training_metrics(steps_completed=steps, metrics={"loss": loss})
    with core_v2.checkpoint.store_path({"steps_completed": steps, "by": "python"}) as (path, uuid):
        (path / "model.bin").write_bytes(pattern(size, steps))
        (path / "sub" / "empty-dir").mkdir(parents=True)
        (path / "sub" / "note.txt").write_text("step %d\n" % steps)
        (path / "sub" / "empty.txt").write_bytes(b"")
    uuids[steps] = uuid
    core_v2.train.report_validation_metrics(steps_completed=steps, metrics={"val_loss": loss})
core_v2.close()
print(json.dumps({"trial_id": core_v2.info.trial.trial_id, "uuids": uuids}))
`;

/** The Python SDK downloads one checkpoint in each mode, each into its own directory. */
const DOWNLOAD_SCRIPT = String.raw`${PY_PRELUDE}
ckpt = client.get_checkpoint(args["uuid"])
calls = {}
for mode, path in args["targets"].items():
    azure_calls.clear()
    ckpt.download(path, mode=client.DownloadMode(mode))
    calls[mode] = list(azure_calls)
print(json.dumps(calls))
`;

/** [steps, val_loss, size of model.bin]. */
const PY_CHECKPOINTS: [number, number, number][] = [
  [10, 0.7, MiB + 10],
  [20, 0.2, 9 * MiB + 20],
  [30, 0.4, 2 * MiB + 30],
];

const prerequisites = findPythonSdk();
const missing =
  prerequisites.missing ??
  (spawnSync(PYTHON, ['-c', 'import azure.storage.blob'], { stdio: 'ignore' }).status === 0
    ? undefined
    : `${PYTHON} cannot import azure.storage.blob (apt-get install -y python3-azure-storage)`);
if (missing !== undefined) {
  process.stderr.write(`Azure interop test skipped: missing ${missing}\n`);
}

describe.skipIf(missing !== undefined)('Azure checkpoints ⇄ Determined Python SDK', () => {
  let scratch = '';
  let pythonPath = '';
  let azurite: AzuriteHandle;
  let m: TestMaster;

  beforeAll(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'det-azure-py-'));
    if (prerequisites.source === undefined) {
      throw new Error('no harness source');
    }
    pythonPath = await harnessDir(prerequisites.source, scratch);
    azurite = await startAzurite();
    m = await loopbackMaster();
  }, 120_000);

  afterAll(async () => {
    await m?.close();
    await azurite?.close();
    await rm(scratch, { recursive: true, force: true });
  });

  function storage(container: string): CheckpointStorageConfig {
    return { type: 'azure', container, connection_string: azurite.connectionString };
  }

  const containerClient = (container: string): ContainerClient =>
    new ContainerClient(azurite.connectionString, container);

  /** Runs a script with a clean environment that knows no Azure credentials of its own. */
  async function python(
    name: string,
    script: string,
    args: unknown,
  ): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const home = join(scratch, `${name}-home`);
    await mkdir(home);
    const file = join(scratch, `${name}.py`);
    await writeFile(file, script);
    return runPython(
      file,
      [JSON.stringify(args)],
      {
        HOME: home,
        PYTHONPATH: pythonPath,
        PYTHONDONTWRITEBYTECODE: '1',
        DET_MASTER: m.url,
        DET_DEBUG_CONFIG_PATH: join(home, 'det-config'),
      },
      { timeoutMs: 90_000 },
    );
  }

  /** The blobs under `prefix` in `container`, relative to it, sorted. */
  async function blobsUnder(container: string, prefix: string): Promise<string[]> {
    const names: string[] = [];
    for await (const blob of containerClient(container).listBlobsFlat({ prefix })) {
      names.push(blob.name.slice(prefix.length));
    }
    return names.sort();
  }

  async function blobBytes(container: string, name: string): Promise<Buffer> {
    return containerClient(container).getBlobClient(name).downloadToBuffer();
  }

  describe('a core_v2 run that checkpoints into Azure', () => {
    let trialId = 0;
    let uuids: Record<string, string> = {};
    let best = '';
    /** The best checkpoint as Python wrote it (its metadata.json as Python uploaded it). */
    let expected: Digests = {};
    const checkpoint = (): Promise<Checkpoint> =>
      new TrialReference(trialId, { master: m.url, env: m.env }).topCheckpoint();

    beforeAll(async () => {
      const run = await python('train', TRAIN_SCRIPT, {
        master: m.url,
        storage: storage(PY_CONTAINER),
        checkpoints: PY_CHECKPOINTS,
      });
      expect(run.code, pythonOutput(run)).toBe(0);
      const summary = JSON.parse(run.stdout.trim().split('\n').at(-1) ?? '') as {
        trial_id: number;
        uuids: Record<string, string>;
      };
      ({ trial_id: trialId, uuids } = summary);
      best = uuids['20'] ?? '';
      expected = digests({
        'metadata.json': await blobBytes(PY_CONTAINER, `${best}/metadata.json`),
        'model.bin': pattern(9 * MiB + 20, 20),
        'sub/': null,
        'sub/empty-dir/': null,
        'sub/empty.txt': '',
        'sub/note.txt': 'step 20\n',
      });
    }, 120_000);

    it('uploads each checkpoint as <uuid>/<path> in the container, directories as markers', async () => {
      expect(Object.keys(uuids)).toEqual(['10', '20', '30']);
      for (const uuid of Object.values(uuids)) {
        expect(await blobsUnder(PY_CONTAINER, `${uuid}/`)).toEqual([
          'metadata.json',
          'model.bin',
          'sub/',
          'sub/empty-dir/',
          'sub/empty.txt',
          'sub/note.txt',
        ]);
      }
      const metadata = await blobBytes(PY_CONTAINER, `${best}/metadata.json`);
      expect(JSON.parse(metadata.toString())).toEqual({ steps_completed: 20, by: 'python' });
    });

    it('picks the best checkpoint, which is not the latest', async () => {
      const ref = new TrialReference(trialId, { master: m.url, env: m.env });
      const top = await ref.topCheckpoint();
      expect(top.uuid).toBe(best);
      expect((await ref.selectCheckpoint({ latest: true })).uuid).toBe(uuids['30']);
      expect(top).toMatchObject({
        batchNumber: 20,
        metadata: { steps_completed: 20, by: 'python' },
        storageConfig: storage(PY_CONTAINER),
        resources: {
          'model.bin': 9 * MiB + 20,
          'sub/': 0,
          'sub/empty-dir/': 0,
          'sub/note.txt': 8,
          'sub/empty.txt': 0,
        },
      });
    });

    it.each([
      ['direct', 'direct'],
      ['master', 'master'],
      ['auto', 'direct'],
    ] as const)('downloads it byte for byte in %s mode', async (mode, used) => {
      let start: DownloadEvent | undefined;
      const dir = await (
        await checkpoint()
      ).download(join(scratch, `sdk-${mode}`), {
        mode,
        onProgress: (event) => {
          start ??= event;
        },
      });
      expect(start).toMatchObject({
        type: 'start',
        mode: used,
        source:
          used === 'direct' ? `azure://${PY_CONTAINER}/${best}` : `${m.url}/checkpoints/${best}`,
      });
      expect(await digestsOf(dir)).toEqual(expected);
    });

    it.each([
      ['trial download --best', 'auto'],
      ['checkpoint download --mode direct', 'direct'],
      ['checkpoint download --mode master', 'master'],
    ] as const)('det %s fetches it byte for byte', async (command, mode) => {
      const out = join(scratch, `det-${mode}`);
      const argv =
        mode === 'auto'
          ? ['trial', 'download', String(trialId), '--best', '-o', out]
          : ['checkpoint', 'download', best, '-o', out, '--mode', mode];
      const det = await runDet({ baseUrl: m.url, fetch: m.fetch }, m.dir, argv, { env: m.env });
      expect(det.code, `det ${command}:\n${det.stderr}`).toBe(0);
      expect(det.stdout).toBe(`${out}\n`);
      expect(det.stderr).toContain(
        mode === 'master'
          ? `from ${m.url}/checkpoints/${best}\n`
          : `from azure://${PY_CONTAINER}/${best}\n`,
      );
      expect(await digestsOf(out)).toEqual(expected);
    });
  });

  describe('a checkpoint our Core API uploads to Azure', () => {
    let uuid = '';
    let azureCalls: Record<string, [string, string, string][]> = {};
    /** The tree uploaded, plus the metadata.json the upload wrote. */
    let expected: Digests = {};
    const target = (mode: string): string => join(scratch, `py-${mode}`);

    beforeAll(async () => {
      const src = join(scratch, 'ts-src');
      await makeTree(src, {
        'weights.bin': pattern(40 * MiB + 7, 3),
        'tokenizer.json': '{"vocab":["a","b"]}',
        'nested/deeper/config.json': '{"layers":2}',
        'nested/empty.txt': '',
        'empty-dir': null,
      });
      // Determined's Python SDK creates its container on first use; ours writes into one that
      // exists, as a team's storage does.
      await containerClient(TS_CONTAINER).createIfNotExists();
      const core = await init({
        master: m.url,
        env: m.env,
        config: {
          name: 'ts-azure',
          searcher: { metric: 'val_loss' },
          checkpoint_storage: storage(TS_CONTAINER),
        },
      });
      uuid = await core.checkpoint.upload(src, { steps_completed: 1 });
      await core.close();
      expected = {
        ...(await digestsOf(src)),
        'metadata.json': sha256(await blobBytes(TS_CONTAINER, `${uuid}/metadata.json`)),
      };
      const run = await python('download', DOWNLOAD_SCRIPT, {
        master: m.url,
        uuid,
        targets: { direct: target('direct'), master: target('master'), auto: target('auto') },
      });
      expect(run.code, pythonOutput(run)).toBe(0);
      azureCalls = JSON.parse(run.stdout.trim().split('\n').at(-1) ?? '') as typeof azureCalls;
    }, 120_000);

    it('uploads it as <uuid>/<path> in the container, as the Python SDK lays checkpoints out', async () => {
      expect(await blobsUnder(TS_CONTAINER, `${uuid}/`)).toEqual([
        'empty-dir/',
        'metadata.json',
        'nested/',
        'nested/deeper/',
        'nested/deeper/config.json',
        'nested/empty.txt',
        'tokenizer.json',
        'weights.bin',
      ]);
      const metadata = await blobBytes(TS_CONTAINER, `${uuid}/metadata.json`);
      expect(JSON.parse(metadata.toString())).toEqual({ steps_completed: 1 });
    });

    it.each(['direct', 'auto'])(
      'is downloaded byte for byte by the Python SDK in %s mode, from Azure',
      async (mode) => {
        expect(await digestsOf(target(mode))).toEqual(expected);
        expect(azureCalls[mode]).toContainEqual(['get', `${TS_CONTAINER}/${uuid}`, 'weights.bin']);
      },
    );

    it('is downloaded byte for byte by the Python SDK in master mode, which Determined refuses for Azure', async () => {
      // The master's archive holds regular files only, as Determined's does (it skips directory
      // markers), so an empty directory does not travel this way.
      const { 'empty-dir/': _emptyDir, ...files } = expected;
      expect(await digestsOf(target('master'))).toEqual(files);
      expect(azureCalls.master).toEqual([]);
    });
  });
});
