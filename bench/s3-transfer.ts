/**
 * The S3 transfer engine (`@determined-ts/storage`, through the SDK's `downloadCheckpoint` in
 * direct mode and the storage package's `uploadFiles`) against Determined's path (boto3) and
 * curl, on s3rver 3.7.1 in a process of its own on loopback: storage-transfer.md, part B, and
 * its goals G1–G5.
 *
 *   download   1 GiB random object: ours (CRC32C recorded, so checked) vs boto3 download_file
 *              (default TransferConfig) vs `curl -s -o dst URL`; then once with a wrong CRC32C
 *              recorded, which must fail
 *   10gib      a 10 GiB object, ours once: peak RSS (skipped with < 25 GiB free disk)
 *   upload     1 GiB: ours (uploadFiles, 16 MiB × 4) vs boto3 upload_file vs @aws-sdk/lib-storage
 *              Upload q4 × 16 MiB (only when installed: it is not a dependency)
 *   small      1,024 × 16 KiB under one prefix: ours vs Determined's sequential boto3 loop
 *   resume     ours SIGKILLed at ≥ 50 %, then run again: the bytes of the second run, counted
 *              by a TCP proxy in front of s3rver
 *
 * Every client runs in a child process under GNU time (peak RSS, whole-process CPU). Ours and
 * boto3 also time the transfer call alone, with their modules loaded and clients made before:
 * ratios are of those times (curl: its whole process, a few ms of start-up). Each comparison
 * runs a warm-up of every case, then DET_BENCH_REPEAT interleaved rounds (default and least 5);
 * medians. Before each run the destination is removed and `sync` run; every output is compared
 * with its source. Exits 1 on a missed target unless DET_BENCH_NO_FAIL=1.
 *
 *   node --import tsx --conditions=source bench/s3-transfer.ts
 *   DET_BENCH_QUICK=1        64 MiB object, 2 rounds, 128 small files, no 10 GiB (unless
 *                            named in DET_BENCH_CASES: then 640 MiB)
 *   DET_BENCH_CASES=download,small   a subset of download, 10gib, upload, small, resume
 */
import { randomUUID } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { join } from 'node:path';

import { fmt, table, tempDir } from './lib.js';
import { runDownload, runHuge, runUpload } from './s3-cases-large.js';
import { runResume, runSmallFiles } from './s3-cases-small.js';
import { checkNothingLeft, curl, objectUrl } from './s3-harness.js';
import type { BenchContext, Verdict } from './s3-harness.js';
import { GIB, MIB, startS3rverProcess, writeRandomFile } from './s3-lib.js';

// The AWS SDK warns on Node 20 at its first client (the parent puts the small files); the
// children get the same setting from s3-lib's CHILD_ENV.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
const isQuick = process.env.DET_BENCH_QUICK === '1';
const repeat = Math.max(
  isQuick ? 1 : 5,
  Number.parseInt(process.env.DET_BENCH_REPEAT ?? '', 10) || (isQuick ? 2 : 5),
);
const GROUPS = {
  download: runDownload,
  '10gib': runHuge,
  upload: runUpload,
  small: runSmallFiles,
  resume: runResume,
} satisfies Record<string, (ctx: BenchContext) => Promise<void>>;
type Group = keyof typeof GROUPS;
const isGroup = (name: string): name is Group => Object.hasOwn(GROUPS, name);
const asked = process.env.DET_BENCH_CASES?.split(',').map((g) => g.trim());
const unknown = asked?.filter((g) => !isGroup(g)) ?? [];
if (unknown.length > 0) {
  throw new Error(
    `unknown DET_BENCH_CASES ${unknown.join(', ')}: ${Object.keys(GROUPS).join(', ')}`,
  );
}
const groups = (Object.keys(GROUPS) as Group[]).filter((g) =>
  asked === undefined ? !(isQuick && g === '10gib') : asked.includes(g),
);
const loads = (): string =>
  loadavg()
    .map((l) => fmt(l))
    .join(' ');

const verdicts: Verdict[] = [];
const root = await tempDir('det-bench-s3-');
try {
  const s3 = await startS3rverProcess(join(root.path, 's3rver'), 'bench');
  try {
    const size = isQuick ? 64 * MIB : GIB;
    console.log(
      `machine: ${availableParallelism()} CPUs, ${cpus()[0]?.model ?? 'unknown CPU'}; node ` +
        `${process.version}; load ${loads()}; ${isQuick ? 'QUICK' : 'full size'}, ${repeat} rounds`,
    );
    const out = join(root.path, 'out');
    await mkdir(out);
    const src = join(root.path, 'object.bin');
    console.log(`generating ${size / MIB} MiB of random bytes and putting them in s3rver`);
    const crc = writeRandomFile(src, size);
    const uuid = randomUUID();
    const ctx: BenchContext = {
      s3,
      root: root.path,
      out,
      bucket: 'bench',
      prefix: 'det',
      isQuick,
      repeat,
      big: { uuid, key: `det/${uuid}/big.bin`, src, size, crc },
      verdicts,
    };
    curl(['-T', src, objectUrl(ctx, ctx.big.key)]); // one anonymous PUT: s3rver's cheapest
    for (const group of groups) {
      console.log(`\n== ${group}`);
      await GROUPS[group](ctx);
    }
    await checkNothingLeft(out, []);
  } finally {
    await s3.close();
  }
} finally {
  await root.cleanup();
}

console.log('\n== Targets\n');
console.log(
  table(
    ['figure', 'measured', 'target', 'verdict'],
    verdicts.map((v) => [
      v.figure,
      v.value,
      v.target,
      v.pass === undefined ? '-' : v.pass ? 'PASS' : 'MISS',
    ]),
  ),
);
console.log(`\nload average at end ${loads()}`);
const isMissed = verdicts.some((v) => v.pass === false);
process.exitCode = isMissed && process.env.DET_BENCH_NO_FAIL !== '1' ? 1 : 0;
