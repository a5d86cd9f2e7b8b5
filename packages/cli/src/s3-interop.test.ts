// Checkpoints in S3 cross between Determined's real Python SDK (v0.38.1, with Debian's boto3)
// and ours, through s3rver and our master over loopback: a core_v2 run's best checkpoint is
// picked and downloaded by our SDK and `det` in every mode, and the Python SDK downloads one our
// Core API uploaded in every mode. Skips when Python, the harness or boto3 is absent.
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import type { S3Client } from '@aws-sdk/client-s3';
import { TrialReference, init } from '@determined-ts/sdk';
import type { Checkpoint, CheckpointStorageConfig, DownloadEvent } from '@determined-ts/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  DEFAULT_TEST_BUCKET,
  S3RVER_ACCESS_KEY_ID,
  S3RVER_SECRET_ACCESS_KEY,
  startS3rver,
  testS3Client,
} from '../../storage/test/s3rver.js';
import type { S3rverHandle } from '../../storage/test/s3rver.js';
import { loopbackMaster, makeTree, sha256 } from '../../sdk/test/core-helpers.js';
import type { TestMaster } from '../../sdk/test/core-helpers.js';
import { PYTHON, findPythonSdk, harnessDir, runPython } from '../../../test/python-harness.js';
import { runDet } from '../test/helpers.js';
import { PY_PATTERN, digests, digestsOf, pattern, pythonOutput } from '../test/interop.js';
import type { Digests } from '../test/interop.js';

const MiB = 1024 * 1024;

const PY_PRELUDE = String.raw`
import json, logging, sys, warnings
warnings.filterwarnings("ignore", category=FutureWarning)
logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
import botocore.client
from determined import core
from determined.experimental import client, core_v2

args = json.loads(sys.argv[1])
client.login(master=args["master"], user="determined", password="")

# Every S3 operation boto3 makes, as [operation, key]: s3rver's ETags cannot tell a multipart
# upload from a single PUT, and a master-mode download must make none.
s3_calls = []
_make_api_call = botocore.client.BaseClient._make_api_call
def _recording(self, operation, params):
    s3_calls.append([operation, params.get("Key", "")])
    return _make_api_call(self, operation, params)
botocore.client.BaseClient._make_api_call = _recording

${PY_PATTERN}`;

/** core_v2 trains and checkpoints into S3; the best checkpoint (steps 20) is not the latest. */
const TRAIN_SCRIPT = String.raw`${PY_PRELUDE}
core_v2.init(
    config=core_v2.Config(
        name="py-s3",
        searcher={"name": "single", "metric": "val_loss", "smaller_is_better": True},
        hparams={"lr": 0.5},
        checkpoint_storage=args["storage"],
    ),
    # AUTO would import torch for its tensorboard writer.
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
print(json.dumps({"trial_id": core_v2.info.trial.trial_id, "uuids": uuids, "s3_calls": s3_calls}))
`;

/** The Python SDK downloads one checkpoint in each mode, each into its own directory. */
const DOWNLOAD_SCRIPT = String.raw`${PY_PRELUDE}
ckpt = client.get_checkpoint(args["uuid"])
calls = {}
for mode, path in args["targets"].items():
    s3_calls.clear()
    ckpt.download(path, mode=client.DownloadMode(mode))
    calls[mode] = list(s3_calls)
print(json.dumps(calls))
`;

/** [steps, val_loss, size of model.bin]: only the best is past boto3's 8 MiB multipart threshold. */
const PY_CHECKPOINTS: [number, number, number][] = [
  [10, 0.7, MiB + 10],
  [20, 0.2, 9 * MiB + 20],
  [30, 0.4, 2 * MiB + 30],
];

const prerequisites = findPythonSdk();
const missing =
  prerequisites.missing ??
  (spawnSync(PYTHON, ['-c', 'import boto3'], { stdio: 'ignore' }).status === 0
    ? undefined
    : `${PYTHON} cannot import boto3 (apt-get install -y python3-boto3)`);
if (missing !== undefined) {
  process.stderr.write(`S3 interop test skipped: missing ${missing}\n`);
}

describe.skipIf(missing !== undefined)('S3 checkpoints ⇄ Determined Python SDK', () => {
  let scratch = '';
  let pythonPath = '';
  let s3rver: S3rverHandle;
  let s3: S3Client;
  let m: TestMaster;

  beforeAll(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'det-s3-py-'));
    if (prerequisites.source === undefined) {
      throw new Error('no harness source');
    }
    pythonPath = await harnessDir(prerequisites.source, scratch);
    s3rver = await startS3rver();
    s3 = testS3Client(s3rver.endpoint);
    m = await loopbackMaster();
  }, 120_000);

  afterAll(async () => {
    s3?.destroy();
    await m?.close();
    await s3rver?.close();
    await rm(scratch, { recursive: true, force: true });
  });

  function storage(prefix: string): CheckpointStorageConfig {
    return {
      type: 's3',
      bucket: DEFAULT_TEST_BUCKET,
      prefix,
      endpoint_url: s3rver.endpoint,
      access_key: S3RVER_ACCESS_KEY_ID,
      secret_key: S3RVER_SECRET_ACCESS_KEY,
    };
  }

  /** Runs a script with a clean environment that knows no AWS credentials of its own. */
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
        AWS_EC2_METADATA_DISABLED: 'true',
        AWS_SHARED_CREDENTIALS_FILE: join(home, 'no-aws-credentials'),
        AWS_CONFIG_FILE: join(home, 'no-aws-config'),
      },
      { timeoutMs: 90_000 },
    );
  }

  /** The keys under `prefix`, relative to it, sorted. */
  async function keysUnder(prefix: string): Promise<string[]> {
    const listing = await s3.send(
      new ListObjectsV2Command({ Bucket: DEFAULT_TEST_BUCKET, Prefix: prefix }),
    );
    return (listing.Contents ?? []).map((o) => (o.Key ?? '').slice(prefix.length)).sort();
  }

  async function objectBytes(key: string): Promise<Uint8Array> {
    const res = await s3.send(new GetObjectCommand({ Bucket: DEFAULT_TEST_BUCKET, Key: key }));
    return (await res.Body?.transformToByteArray()) ?? new Uint8Array();
  }

  describe('a core_v2 run that checkpoints into S3', () => {
    let trialId = 0;
    let uuids: Record<string, string> = {};
    let best = '';
    let s3Calls: [string, string][] = [];
    /** The best checkpoint as Python wrote it (its metadata.json as Python uploaded it). */
    let expected: Digests = {};
    const checkpoint = (): Promise<Checkpoint> =>
      new TrialReference(trialId, { master: m.url, env: m.env }).topCheckpoint();

    beforeAll(async () => {
      const run = await python('train', TRAIN_SCRIPT, {
        master: m.url,
        storage: storage('py/runs'),
        checkpoints: PY_CHECKPOINTS,
      });
      expect(run.code, pythonOutput(run)).toBe(0);
      const summary = JSON.parse(run.stdout.trim().split('\n').at(-1) ?? '') as {
        trial_id: number;
        uuids: Record<string, string>;
        s3_calls: [string, string][];
      };
      ({ trial_id: trialId, uuids, s3_calls: s3Calls } = summary);
      best = uuids['20'] ?? '';
      expected = digests({
        'metadata.json': await objectBytes(`py/runs/${best}/metadata.json`),
        'model.bin': pattern(9 * MiB + 20, 20),
        'sub/': null,
        'sub/empty-dir/': null,
        'sub/empty.txt': '',
        'sub/note.txt': 'step 20\n',
      });
    }, 120_000);

    it('uploads each checkpoint under <prefix>/<uuid>/, directories as markers', async () => {
      expect(Object.keys(uuids)).toEqual(['10', '20', '30']);
      for (const uuid of Object.values(uuids)) {
        expect(await keysUnder(`py/runs/${uuid}/`)).toEqual([
          'metadata.json',
          'model.bin',
          'sub/',
          'sub/empty-dir/',
          'sub/empty.txt',
          'sub/note.txt',
        ]);
      }
      const metadata = Buffer.from(await objectBytes(`py/runs/${best}/metadata.json`));
      expect(JSON.parse(metadata.toString())).toEqual({ steps_completed: 20, by: 'python' });
    });

    it("uploads the best checkpoint's 9 MiB file in parts", () => {
      const key = `py/runs/${best}/model.bin`;
      const ops = s3Calls.filter(([, k]) => k === key).map(([op]) => op);
      expect(ops).toEqual([
        'CreateMultipartUpload',
        'UploadPart',
        'UploadPart',
        'CompleteMultipartUpload',
      ]);
    });

    it('picks the best checkpoint, which is not the latest', async () => {
      const ref = new TrialReference(trialId, { master: m.url, env: m.env });
      const top = await ref.topCheckpoint();
      expect(top.uuid).toBe(best);
      expect((await ref.selectCheckpoint({ latest: true })).uuid).toBe(uuids['30']);
      expect(top).toMatchObject({
        batchNumber: 20,
        metadata: { steps_completed: 20, by: 'python' },
        storageConfig: storage('py/runs'),
        resources: {
          'model.bin': 9 * MiB + 20,
          'sub/': 0,
          'sub/empty-dir/': 0,
          'sub/note.txt': 8,
          'sub/empty.txt': 0,
        },
      });
      // The Python SDK records no checksums: downloads check sizes only.
      expect(top.crc32c).toEqual({});
      expect(top.digests).toEqual({});
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
          used === 'direct'
            ? `s3://${DEFAULT_TEST_BUCKET}/py/runs/${best}`
            : `${m.url}/checkpoints/${best}`,
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
          : `from s3://${DEFAULT_TEST_BUCKET}/py/runs/${best}\n`,
      );
      expect(await digestsOf(out)).toEqual(expected);
    });
  });

  describe('a checkpoint our Core API uploads to S3', () => {
    let uuid = '';
    let s3Calls: Record<string, [string, string][]> = {};
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
      const core = await init({
        master: m.url,
        env: m.env,
        config: {
          name: 'ts-s3',
          searcher: { metric: 'val_loss' },
          checkpoint_storage: storage('ts/runs'),
        },
      });
      uuid = await core.checkpoint.upload(src, { steps_completed: 1 });
      await core.close();
      expected = {
        ...(await digestsOf(src)),
        'metadata.json': sha256(await objectBytes(`ts/runs/${uuid}/metadata.json`)),
      };
      const run = await python('download', DOWNLOAD_SCRIPT, {
        master: m.url,
        uuid,
        targets: { direct: target('direct'), master: target('master'), auto: target('auto') },
      });
      expect(run.code, pythonOutput(run)).toBe(0);
      s3Calls = JSON.parse(run.stdout.trim().split('\n').at(-1) ?? '') as typeof s3Calls;
    }, 120_000);

    it('uploads it under <prefix>/<uuid>/ as the Python SDK lays checkpoints out', async () => {
      expect(await keysUnder(`ts/runs/${uuid}/`)).toEqual([
        'empty-dir/',
        'metadata.json',
        'nested/',
        'nested/deeper/',
        'nested/deeper/config.json',
        'nested/empty.txt',
        'tokenizer.json',
        'weights.bin',
      ]);
      const metadata = Buffer.from(await objectBytes(`ts/runs/${uuid}/metadata.json`));
      expect(JSON.parse(metadata.toString())).toEqual({ steps_completed: 1 });
    });

    it.each(['direct', 'auto'])(
      'is downloaded byte for byte by the Python SDK in %s mode, from S3',
      async (mode) => {
        expect(await digestsOf(target(mode))).toEqual(expected);
        expect(s3Calls[mode]).toContainEqual(['GetObject', `ts/runs/${uuid}/weights.bin`]);
      },
    );

    it('is downloaded byte for byte by the Python SDK in master mode', async () => {
      // The master's archive holds regular files only, as Determined's does (it skips directory
      // markers), so an empty directory does not travel this way.
      const { 'empty-dir/': _emptyDir, ...files } = expected;
      expect(await digestsOf(target('master'))).toEqual(files);
      expect(s3Calls.master).toEqual([]);
    });
  });
});
