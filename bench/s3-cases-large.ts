/**
 * The large-object groups of `s3-transfer.ts`: the download (ours, boto3, curl), the 10 GiB
 * download's peak RSS, and the multipart upload (ours, boto3, lib-storage when installed).
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { rm, statfs } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { S3StorageConfig } from '../packages/storage/src/config.js';
import { fmt } from './lib.js';
import {
  checkNothingLeft,
  checkpointOf,
  cmp,
  curl,
  judge,
  medianOf,
  objectUrl,
  runOurs,
  runRounds,
  sampleTable,
} from './s3-harness.js';
import type { BenchContext, Case } from './s3-harness.js';
import {
  BOTO3_SCRIPT,
  GIB,
  MIB,
  PYTHON,
  crc32cOfFile,
  resultNumber,
  runMeasured,
  succeeded,
  writeRandomFile,
} from './s3-lib.js';
import type { MeasuredRun } from './s3-lib.js';

export const RSS_TARGET_MIB = 160;
const OURS_DOWNLOAD = 'ours (direct, CRC32C)';
const OURS_UPLOAD = 'ours (uploadFiles 16 MiB × 4)';

/** G1–G3: one object, ours (CRC32C recorded) vs boto3 download_file vs curl. */
export async function runDownload(ctx: BenchContext): Promise<void> {
  const { big, out } = ctx;
  const checkpoint = checkpointOf(ctx, big.uuid, { 'big.bin': { size: big.size, crc: big.crc } });
  const oursTarget = join(out, 'ours');
  const specFile = join(ctx.root, 'download.json');
  /** A case whose output is the file `dst` (in the directory `remove`). */
  const fileCase = (
    name: string,
    dst: string,
    run: () => Promise<MeasuredRun>,
    remove = dst,
  ): Case => ({
    name,
    prepare: () => rm(remove, { recursive: true, force: true }),
    run,
    verify: async () => {
      cmp(dst, big.src);
      await rm(remove, { recursive: true, force: true });
      await checkNothingLeft(out, []);
    },
  });
  const boto3Dst = join(out, 'boto3.bin');
  const curlDst = join(out, 'curl.bin');
  const cases: Case[] = [
    fileCase(
      OURS_DOWNLOAD,
      join(oursTarget, 'big.bin'),
      () => runOurs('download', { checkpoint, target: oursTarget }, specFile),
      oursTarget,
    ),
    fileCase('boto3 download_file', boto3Dst, () =>
      runMeasured(PYTHON, [
        '-c',
        BOTO3_SCRIPT,
        'get',
        ctx.s3.endpoint,
        ctx.bucket,
        big.key,
        boto3Dst,
      ]),
    ),
    fileCase('curl -o', curlDst, () =>
      runMeasured('curl', ['-sf', '-o', curlDst, objectUrl(ctx, big.key)]),
    ),
  ];
  const samples = await runRounds('download', cases, ctx);

  // The check has to run: the same download with a wrong CRC32C recorded must fail, and leave
  // nothing behind.
  const wrongCrc = big.crc === '00000000' ? '00000001' : '00000000';
  const wrong = { ...checkpoint, crc32c: { 'big.bin': wrongCrc } };
  const bad = await runOurs('download', { checkpoint: wrong, target: oursTarget }, specFile);
  const isRefused = bad.code !== 0 && /IntegrityError/.test(bad.stderr);
  await checkNothingLeft(out, []);

  const mib = big.size / MIB;
  console.log(`\ndownload of ${mib} MiB, ${ctx.repeat} interleaved rounds, medians\n`);
  console.log(sampleTable(samples, big.size));
  const ours = medianOf(samples, OURS_DOWNLOAD, 'seconds');
  const boto3 = medianOf(samples, 'boto3 download_file', 'seconds');
  const viaCurl = medianOf(samples, 'curl -o', 'seconds');
  const cpuPerGiB = medianOf(samples, OURS_DOWNLOAD, 'callCpuSeconds') / (big.size / GIB);
  const rss = medianOf(samples, OURS_DOWNLOAD, 'maxRssMiB');
  ctx.oursDownloadRssMiB = rss;
  ctx.verdicts.push(
    judge('G1 download: speed ÷ boto3 download_file', boto3 / ours, '≥', 1.6, ' ×'),
    judge('G1 download: speed ÷ curl -o', viaCurl / ours, '≥', 0.8, ' ×'),
    judge('G2 download: CPU-s per GiB (the call, CRC32C on)', cpuPerGiB, '≤', 1.1),
    judge(`G3 download: peak RSS, ${mib} MiB`, rss, '≤', RSS_TARGET_MIB, ' MiB', 0),
    {
      figure: 'download with a wrong CRC32C recorded',
      value: isRefused ? 'IntegrityError' : `exit ${bad.code}`,
      target: 'refused',
      pass: isRefused,
    },
  );
}

/**
 * G3: one 10 GiB download, its peak RSS against the 1 GiB one's. (Quick mode runs it only when
 * asked for by name, with 10 × its object: 640 MiB.)
 */
export async function runHuge(ctx: BenchContext): Promise<void> {
  const HUGE_BYTES = ctx.isQuick ? 10 * ctx.big.size : 10 * GIB;
  const label = ctx.isQuick ? `${HUGE_BYTES / MIB} MiB` : '10 GiB';
  const figure = `G3 download: peak RSS, ${label}`;
  const free = await statfs(tmpdir());
  const freeBytes = free.bavail * free.bsize;
  // The object twice while it is put (the source, s3rver's copy), then s3rver's and ours.
  const neededBytes = 2.5 * HUGE_BYTES;
  if (freeBytes < neededBytes) {
    console.log(
      `\n${label} download skipped: ${fmt(freeBytes / GIB, 1)} GiB free in ${tmpdir()}, ` +
        `needs ${fmt(neededBytes / GIB, 1)}`,
    );
    ctx.verdicts.push({ figure, value: 'skipped (disk)', target: '≤ 160 MiB', pass: undefined });
    return;
  }
  const uuid = randomUUID();
  const key = `${ctx.prefix}/${uuid}/huge.bin`;
  const src = join(ctx.root, 'huge.bin');
  console.log(`generating ${label} of random bytes and putting them in s3rver`);
  const crc = writeRandomFile(src, HUGE_BYTES);
  curl(['-T', src, objectUrl(ctx, key)]);
  await rm(src); // checked by CRC32C below: the disk need not hold it three times
  const target = join(ctx.out, 'huge');
  const checkpoint = checkpointOf(ctx, uuid, { 'huge.bin': { size: HUGE_BYTES, crc } });
  execFileSync('sync');
  const server0 = ctx.s3.cpuSeconds();
  const run = succeeded(
    await runOurs('download', { checkpoint, target }, join(ctx.root, 'huge.json')),
    `ours, ${label}`,
  );
  const serverCpu = ctx.s3.cpuSeconds() - server0;
  const got = await crc32cOfFile(join(target, 'huge.bin'));
  if (got.size !== HUGE_BYTES || got.crc !== crc) {
    throw new Error(`${label} download: ${got.size} bytes, CRC32C ${got.crc}; expected ${crc}`);
  }
  await rm(target, { recursive: true, force: true });
  await checkNothingLeft(ctx.out, []);
  curl(['-X', 'DELETE', objectUrl(ctx, key)]);
  const seconds = resultNumber(run, 'seconds');
  console.log(
    `${label}, ours: ${fmt(seconds)} s (${fmt(HUGE_BYTES / MIB / seconds, 0)} MiB/s), call CPU ` +
      `${fmt(resultNumber(run, 'cpuSeconds') / (HUGE_BYTES / GIB))} s/GiB, process CPU ` +
      `${fmt(run.cpuSeconds)} s, ` +
      `s3rver CPU ${fmt(serverCpu)} s, peak RSS ${fmt(run.maxRssMiB, 0)} MiB ` +
      `(${fmt(resultNumber(run, 'rssBeforeMiB'), 0)} before the call); CRC32C checked here`,
  );
  ctx.verdicts.push(judge(figure, run.maxRssMiB, '≤', RSS_TARGET_MIB, ' MiB', 0));
  const small = ctx.oursDownloadRssMiB;
  if (small === undefined) {
    ctx.verdicts.push({
      figure: `G3 download: peak RSS ${label} − ${ctx.big.size / MIB} MiB`,
      value: 'n/a (no 1 GiB run)',
      target: '±10 MiB',
      pass: undefined,
    });
  } else {
    const delta = run.maxRssMiB - small;
    ctx.verdicts.push({
      figure: `G3 download: peak RSS ${label} − ${ctx.big.size / MIB} MiB`,
      value: `${delta >= 0 ? '+' : ''}${fmt(delta, 0)} MiB`,
      target: '±10 MiB',
      pass: Math.abs(delta) <= 10,
    });
  }
}

/** G3 for uploads: ours (multipart 16 MiB × 4) vs boto3 upload_file vs lib-storage. */
export async function runUpload(ctx: BenchContext): Promise<void> {
  const { big } = ctx;
  const config: S3StorageConfig = {
    type: 's3',
    bucket: ctx.bucket,
    prefix: ctx.prefix,
    accessKey: 'S3RVER',
    secretKey: 'S3RVER',
    endpointUrl: ctx.s3.endpoint,
  };
  const specFile = join(ctx.root, 'upload.json');
  /** An upload into a fresh key, read back and compared, then deleted. */
  const uploadCase = (
    name: string,
    run: (uuid: string, key: string) => Promise<MeasuredRun>,
  ): Case => {
    let uuid = '';
    const keyOf = (): string => `${ctx.prefix}/${uuid}/big.bin`;
    return {
      name,
      prepare: () => {
        uuid = randomUUID();
        return Promise.resolve();
      },
      run: () => run(uuid, keyOf()),
      verify: (r) => {
        const crc = r.result?.crc32c;
        if (crc !== undefined && crc !== big.crc) {
          throw new Error(`${name}: reported CRC32C ${JSON.stringify(crc)}, not ${big.crc}`);
        }
        const url = objectUrl(ctx, keyOf());
        execFileSync('sh', ['-c', 'curl -sf "$0" | cmp -s - "$1"', url, big.src]);
        curl(['-X', 'DELETE', url]);
        return Promise.resolve();
      },
    };
  };
  const cases: Case[] = [
    uploadCase(OURS_UPLOAD, (uuid) =>
      runOurs('upload', { config, uuid, path: 'big.bin', file: big.src, size: big.size }, specFile),
    ),
    uploadCase('boto3 upload_file', (_uuid, key) =>
      runMeasured(PYTHON, ['-c', BOTO3_SCRIPT, 'put', ctx.s3.endpoint, ctx.bucket, key, big.src]),
    ),
  ];
  const name = '@aws-sdk/lib-storage';
  const hasLibStorage = await import(name).then(
    () => true,
    () => false,
  );
  if (hasLibStorage) {
    cases.push(
      uploadCase('lib-storage Upload q4 × 16 MiB', (_uuid, key) =>
        runOurs(
          'lib-storage',
          { endpoint: ctx.s3.endpoint, bucket: ctx.bucket, key, file: big.src },
          specFile,
        ),
      ),
    );
  } else {
    console.log(`\n${name} is not installed: its upload anchor is skipped`);
  }
  const samples = await runRounds('upload', cases, ctx);
  const mib = big.size / MIB;
  console.log(`\nupload of ${mib} MiB, ${ctx.repeat} interleaved rounds, medians\n`);
  console.log(sampleTable(samples, big.size));
  const rss = medianOf(samples, OURS_UPLOAD, 'maxRssMiB');
  ctx.verdicts.push(
    judge(`G3 upload: peak RSS, ${mib} MiB multipart`, rss, '≤', RSS_TARGET_MIB, ' MiB', 0),
  );
}
