/**
 * One store's download comparison for `cloud-transfer.ts`: ours (CRC32C recorded) against
 * `curl -o` of the same object from the same server, interleaved rounds after a warm-up (the S3
 * benchmark's harness), then ours once with a wrong CRC32C recorded, which must fail.
 */
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { fmt, median } from './lib.js';
import type { CloudDownloadSpec } from './cloud-transfer-child.js';
import type { BenchObject, CloudServer } from './cloud-servers.js';
import { BUCKET, PREFIX } from './cloud-servers.js';
import { RSS_TARGET_MIB } from './s3-cases-large.js';
import { checkNothingLeft, cmp, judge, medianOf, runRounds, sampleTable } from './s3-harness.js';
import type { BenchContext, Case, Sample, Verdict } from './s3-harness.js';
import { GIB, MIB, runMeasured } from './s3-lib.js';
import type { MeasuredRun } from './s3-lib.js';

const OURS = 'ours (direct, CRC32C)';
const CURL = 'curl -o';
const CHILD = [
  '--import',
  'tsx',
  '--conditions=source',
  join(import.meta.dirname, 'cloud-transfer-child.ts'),
] as const;

export interface StoreRun {
  server: CloudServer;
  object: BenchObject;
  /** The temp directory of the whole run. */
  root: string;
  /** Where downloads land; empty between runs. */
  out: string;
  isQuick: boolean;
  repeat: number;
  verdicts: Verdict[];
}

/** Our client (`cloud-transfer-child.ts`) under GNU time, with `spec` written to `specFile`. */
async function runOurs(spec: CloudDownloadSpec, specFile: string): Promise<MeasuredRun> {
  await writeFile(specFile, JSON.stringify(spec));
  return runMeasured(process.execPath, [...CHILD, specFile]);
}

/** The server's CPU-s per GiB it served to one case (median). */
function serverCpuPerGiB(
  samples: ReadonlyMap<string, Sample[]>,
  name: string,
  size: number,
): number {
  return medianOf(samples, name, 'serverCpuSeconds') / (size / GIB);
}

/** Ours and curl against one store's server; verdicts go to `run.verdicts`. */
export async function runStore(run: StoreRun): Promise<void> {
  const { server, object, out } = run;
  const store = server.kind;
  const checkpoint = {
    uuid: object.uuid,
    state: 'COMPLETED',
    resources: { 'big.bin': object.size },
    digests: {},
    crc32c: { 'big.bin': object.crc },
    metadata: { steps_completed: 1 },
    storageConfig: server.storageConfig,
  } satisfies CloudDownloadSpec['checkpoint'];
  const oursTarget = join(out, 'ours');
  const specFile = join(run.root, `${store}-download.json`);
  const spec = { checkpoint, target: oursTarget, env: server.env };
  /** A case whose output is the file `dst` (in the directory `remove`). */
  const fileCase = (
    name: string,
    dst: string,
    start: () => Promise<MeasuredRun>,
    remove = dst,
  ): Case => ({
    name,
    prepare: () => rm(remove, { recursive: true, force: true }),
    run: start,
    verify: async () => {
      cmp(dst, object.src);
      await rm(remove, { recursive: true, force: true });
      await checkNothingLeft(out, []);
    },
  });
  /** Our call's user and system CPU-s, per run (the warm-up first). */
  const split: { user: number; system: number }[] = [];
  const runOursSplit = async (): Promise<MeasuredRun> => {
    const r = await runOurs(spec, specFile);
    split.push({ user: Number(r.result?.userSeconds), system: Number(r.result?.systemSeconds) });
    return r;
  };
  const curlDst = join(out, 'curl.bin');
  const cases: Case[] = [
    fileCase(OURS, join(oursTarget, 'big.bin'), runOursSplit, oursTarget),
    fileCase(CURL, curlDst, () => runMeasured('curl', ['-sf', '-o', curlDst, server.curlUrl])),
  ];
  // s3-harness's rounds read the server's CPU through `s3`, whatever the server is.
  const harness: BenchContext = {
    s3: server.process,
    root: run.root,
    out,
    bucket: BUCKET,
    prefix: PREFIX,
    isQuick: run.isQuick,
    repeat: run.repeat,
    big: { ...object, key: server.objectName },
    verdicts: run.verdicts,
  };
  const samples = await runRounds(store, cases, harness);

  // The check has to run: the same download with a wrong CRC32C recorded must fail, and leave
  // nothing behind.
  const wrongCrc = object.crc === '00000000' ? '00000001' : '00000000';
  const wrong = { ...checkpoint, crc32c: { 'big.bin': wrongCrc } };
  const bad = await runOurs({ ...spec, checkpoint: wrong }, specFile);
  const isRefused = bad.code !== 0 && /IntegrityError/.test(bad.stderr);
  await checkNothingLeft(out, []);

  const mib = object.size / MIB;
  console.log(
    `\n${store} (${server.label}): download of ${mib} MiB, ${run.repeat} interleaved rounds, ` +
      'medians\n',
  );
  // The column is the server's CPU, whichever server: s3-harness names it after s3rver.
  console.log(sampleTable(samples, object.size).replace('s3rver CPU s', 'server CPU s'));
  console.log(
    `\n${server.label} CPU per GiB served: ${fmt(serverCpuPerGiB(samples, OURS, object.size))} ` +
      `s to ours, ${fmt(serverCpuPerGiB(samples, CURL, object.size))} s to curl`,
  );
  const gib = object.size / GIB;
  const rounds = split.slice(1);
  console.log(
    `ours, the call's CPU per GiB: user ${fmt(median(rounds.map((x) => x.user)) / gib)} + ` +
      `system ${fmt(median(rounds.map((x) => x.system)) / gib)} (medians)`,
  );
  if (!isRefused) {
    console.log(`wrong CRC32C run: exit ${bad.code}; stderr: ${bad.stderr.trim().slice(-1000)}`);
  }
  const ours = medianOf(samples, OURS, 'seconds');
  const viaCurl = medianOf(samples, CURL, 'seconds');
  const cpuPerGiB = medianOf(samples, OURS, 'callCpuSeconds') / gib;
  const rss = medianOf(samples, OURS, 'maxRssMiB');
  run.verdicts.push(
    judge(`${store}: download speed ÷ curl -o`, viaCurl / ours, '≥', 0.8, ' ×'),
    judge(`${store}: download CPU-s per GiB (the call, CRC32C on)`, cpuPerGiB, '≤', 1.1),
    judge(`${store}: download peak RSS, ${mib} MiB`, rss, '≤', RSS_TARGET_MIB, ' MiB', 0),
    {
      figure: `${store}: download with a wrong CRC32C recorded`,
      value: isRefused ? 'IntegrityError' : `exit ${bad.code}`,
      target: 'refused',
      pass: isRefused,
    },
  );
}
