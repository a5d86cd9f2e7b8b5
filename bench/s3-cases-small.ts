/**
 * The groups of `s3-transfer.ts` about many objects and about resuming: a checkpoint of 1,024
 * small files (ours vs Determined's sequential boto3 loop), and a download killed half-way,
 * then run again, with the bytes of the second run counted by a proxy in front of s3rver.
 */
import { spawn } from 'node:child_process';
import { randomFillSync, randomUUID } from 'node:crypto';
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { crc32c, crc32cHex } from '../packages/storage/src/checksum.js';
import { openS3Store } from '../packages/storage/src/s3/open-s3.js';
import {
  DEFAULT_UPLOAD_TUNING,
  uploadFiles,
} from '../packages/storage/src/transfer/upload-files.js';
import { fmt } from './lib.js';
import {
  NODE_CHILD,
  checkNothingLeft,
  checkpointOf,
  cmp,
  judge,
  medianOf,
  runOurs,
  runRounds,
  sampleTable,
} from './s3-harness.js';
import type { BenchContext, Case } from './s3-harness.js';
import {
  BOTO3_SCRIPT,
  CHILD_ENV,
  MIB,
  PYTHON,
  REPO_ROOT,
  collect,
  resultNumber,
  runMeasured,
  startCountingProxy,
  succeeded,
} from './s3-lib.js';

const SMALL_BYTES = 16 * 1024;
/** What a resumed download may fetch beyond what the killed one had not written (G5). */
const RESUME_SLACK_BYTES = 64 * MIB;

/** G4: a checkpoint of many 16 KiB files under one prefix, ours vs boto3's sequential loop. */
export async function runSmallFiles(ctx: BenchContext): Promise<void> {
  const count = ctx.isQuick ? 128 : 1024;
  const uuid = randomUUID();
  const srcDir = join(ctx.root, 'small');
  await mkdir(srcDir);
  const files: Record<string, { size: number; crc: string }> = {};
  const buffer = Buffer.alloc(SMALL_BYTES);
  for (let i = 0; i < count; i += 1) {
    const name = `part-${String(i).padStart(4, '0')}.bin`;
    randomFillSync(buffer);
    await writeFile(join(srcDir, name), buffer);
    files[name] = { size: SMALL_BYTES, crc: crc32cHex(crc32c(buffer)) };
  }
  console.log(`\nputting ${count} × 16 KiB in s3rver (uploadFiles)`);
  const store = openS3Store(
    {
      type: 's3',
      bucket: ctx.bucket,
      prefix: ctx.prefix,
      accessKey: 'S3RVER',
      secretKey: 'S3RVER',
      endpointUrl: ctx.s3.endpoint,
    },
    uuid,
    { env: {} },
  );
  const crcs = await uploadFiles({
    writer: store,
    files: Object.keys(files).map((path) => ({
      path,
      size: SMALL_BYTES,
      file: join(srcDir, path),
    })),
    dirs: [],
    tuning: DEFAULT_UPLOAD_TUNING,
    retry: { attempts: 5, baseDelayMs: 200, maxDelayMs: 5000 },
  });
  for (const [path, f] of Object.entries(files)) {
    if (crcs[path] !== f.crc) {
      throw new Error(`uploadFiles gave ${path} CRC32C ${String(crcs[path])}, expected ${f.crc}`);
    }
  }
  store.bucket.client.destroy();

  const checkpoint = checkpointOf(ctx, uuid, files);
  /** Every file there, with the source's bytes (ours adds metadata.json, as Determined does). */
  const verifyDir = async (dir: string, extra: readonly string[]): Promise<void> => {
    const names = (await readdir(dir)).sort();
    const expected = [...Object.keys(files), ...extra].sort();
    if (names.join('\n') !== expected.join('\n')) {
      throw new Error(`${dir} holds ${names.length} entries, expected ${expected.length}`);
    }
    for (const name of Object.keys(files)) {
      const [got, want] = await Promise.all([
        readFile(join(dir, name)),
        readFile(join(srcDir, name)),
      ]);
      if (!got.equals(want)) {
        throw new Error(`${dir}/${name} differs from the source`);
      }
    }
    await rm(dir, { recursive: true, force: true });
    await checkNothingLeft(ctx.out, []);
  };
  const oursDir = join(ctx.out, 'small-ours');
  const boto3Dir = join(ctx.out, 'small-boto3');
  const specFile = join(ctx.root, 'small.json');
  const cases: Case[] = [
    {
      name: 'ours (direct, CRC32C)',
      prepare: () => rm(oursDir, { recursive: true, force: true }),
      run: () => runOurs('download', { checkpoint, target: oursDir }, specFile),
      verify: () => verifyDir(oursDir, ['metadata.json']),
    },
    {
      name: 'boto3 sequential loop',
      prepare: () => rm(boto3Dir, { recursive: true, force: true }),
      run: () =>
        runMeasured(PYTHON, [
          '-c',
          BOTO3_SCRIPT,
          'getdir',
          ctx.s3.endpoint,
          ctx.bucket,
          `${ctx.prefix}/${uuid}/`,
          boto3Dir,
        ]),
      verify: () => verifyDir(boto3Dir, []),
    },
  ];
  const samples = await runRounds('small files', cases, ctx);
  console.log(`\n${count} × 16 KiB, ${ctx.repeat} interleaved rounds, medians\n`);
  console.log(sampleTable(samples, count * SMALL_BYTES));
  const ours = medianOf(samples, 'ours (direct, CRC32C)', 'seconds');
  const boto3 = medianOf(samples, 'boto3 sequential loop', 'seconds');
  console.log(
    `objects/s: ours ${fmt(count / ours, 0)}, boto3 ${fmt(count / boto3, 0)}; ` +
      `CPU ms per object (the call): ours ` +
      `${fmt((medianOf(samples, 'ours (direct, CRC32C)', 'callCpuSeconds') * 1000) / count)}, ` +
      `boto3 ${fmt((medianOf(samples, 'boto3 sequential loop', 'callCpuSeconds') * 1000) / count)}`,
  );
  ctx.verdicts.push(
    judge(`G4 ${count} × 16 KiB: speed ÷ boto3 loop`, boto3 / ours, '≥', 2.5, ' ×'),
  );
  await rm(srcDir, { recursive: true, force: true });
}

/**
 * G5: ours (direct, default settings) is killed with SIGKILL once its progress passes half the
 * object, then run again into the same target. A counting proxy in front of s3rver gives the
 * bytes the second run fetched; the killed run's last progress event gives what it had written.
 */
export async function runResume(ctx: BenchContext): Promise<void> {
  const { big } = ctx;
  const proxy = await startCountingProxy(ctx.s3.port);
  try {
    const checkpoint = checkpointOf(
      ctx,
      big.uuid,
      { 'big.bin': { size: big.size, crc: big.crc } },
      proxy.endpoint,
    );
    const target = join(ctx.out, 'resume');
    const specFile = join(ctx.root, 'resume.json');
    await writeFile(specFile, JSON.stringify({ checkpoint, target, isProgressPrinted: true }));
    const child = spawn(NODE_CHILD[0], [...NODE_CHILD.slice(1), 'download', specFile], {
      stdio: ['ignore', 'pipe', 'pipe'],
      cwd: REPO_ROOT,
      env: CHILD_ENV,
    });
    let written = 0;
    let isKilled = false;
    const first = await collect(child, (line) => {
      if (!line.startsWith('progress ')) {
        return;
      }
      // Progress lines go down a pipe, written synchronously: read to the end after the kill,
      // the last one is what the killed process had written.
      written = Number(line.slice('progress '.length));
      if (!isKilled && written >= big.size / 2) {
        isKilled = true;
        proxy.hold(); // nothing more reaches it, however long the kill takes
        child.kill('SIGKILL');
      }
    });
    const firstRunBytes = proxy.bytes();
    proxy.release();
    const partials = (await readdir(ctx.out)).filter((n) => n.includes('.partial-'));
    if (!isKilled || first.code === 0) {
      throw new Error(`the download finished before it was killed: ${first.stderr.slice(-500)}`);
    }
    proxy.reset();
    const second = succeeded(
      await runOurs('download', { checkpoint, target, isProgressPrinted: true }, specFile),
      'the resumed download',
    );
    const refetched = proxy.bytes();
    cmp(join(target, 'big.bin'), big.src);
    await rm(target, { recursive: true, force: true });
    await checkNothingLeft(ctx.out, []);
    const remaining = big.size - written;
    const resumedAt = resultNumber(second, 'firstProgressBytes');
    console.log(
      `\nresume: killed at ${fmt(written / MIB, 1)} of ${big.size / MIB} MiB written ` +
        `(${fmt(firstRunBytes / MIB, 1)} MiB through the proxy), ${partials.length} partial ` +
        `download left; the second run started at ${fmt(resumedAt / MIB, 1)} MiB, fetched ` +
        `${fmt(refetched / MIB, 1)} MiB for ${fmt(remaining / MIB, 1)} MiB remaining, in ` +
        `${fmt(resultNumber(second, 'seconds'))} s; output identical to the source`,
    );
    ctx.verdicts.push({
      figure: 'G5 resume: MiB fetched after a kill at ≥ 50 %',
      value: fmt(refetched / MIB, 1),
      target: `≤ ${fmt(remaining / MIB, 1)} + 64`,
      pass: partials.length === 1 && refetched <= remaining + RESUME_SLACK_BYTES,
    });
  } finally {
    await proxy.close();
  }
}
