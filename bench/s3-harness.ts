/**
 * The measuring side of `s3-transfer.ts`: cases run in interleaved rounds after a warm-up, each
 * run from a fresh destination after `sync`, its output checked; medians as a table; verdicts.
 */
import { execFileSync } from 'node:child_process';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { fmt, median, table } from './lib.js';
import { GIB, MIB, runMeasured, succeeded } from './s3-lib.js';
import type { MeasuredRun, S3rverProcess } from './s3-lib.js';

/** A figure next to its target; `pass` undefined: not judged (skipped, or context). */
export interface Verdict {
  figure: string;
  value: string;
  target: string;
  pass: boolean | undefined;
}

/** What every group of cases shares. */
export interface BenchContext {
  s3: S3rverProcess;
  /** The temp directory of the whole run. */
  root: string;
  /** Where downloads land; empty between runs. */
  out: string;
  bucket: string;
  prefix: string;
  isQuick: boolean;
  repeat: number;
  /** The random object every large case reads or writes (1 GiB; 64 MiB when quick). */
  big: { uuid: string; key: string; src: string; size: number; crc: string };
  verdicts: Verdict[];
  /** Our peak RSS downloading `big` (median), for the 10 GiB comparison. */
  oursDownloadRssMiB?: number | undefined;
}

/** One measured run of a case. */
export interface Sample {
  /** The transfer alone (ours, boto3), else the whole process (curl). */
  seconds: number;
  processSeconds: number;
  processCpuSeconds: number;
  callCpuSeconds: number | undefined;
  maxRssMiB: number;
  serverCpuSeconds: number;
}

/** A client to compare: `run` starts it, `verify` checks its output (and removes it). */
export interface Case {
  name: string;
  prepare?: () => Promise<void>;
  run: () => Promise<MeasuredRun>;
  verify: (run: MeasuredRun) => Promise<void>;
}

/** One measured run: `prepare` (a fresh destination), `sync`, the client, its output checked. */
export async function measure(c: Case, s3: S3rverProcess): Promise<Sample> {
  await c.prepare?.();
  execFileSync('sync');
  const server0 = s3.cpuSeconds();
  const run = succeeded(await c.run(), c.name);
  const serverCpuSeconds = s3.cpuSeconds() - server0;
  await c.verify(run);
  const callSeconds = run.result?.seconds;
  const callCpu = run.result?.cpuSeconds;
  return {
    seconds: typeof callSeconds === 'number' ? callSeconds : run.wallSeconds,
    processSeconds: run.wallSeconds,
    processCpuSeconds: run.cpuSeconds,
    callCpuSeconds: typeof callCpu === 'number' ? callCpu : undefined,
    maxRssMiB: run.maxRssMiB,
    serverCpuSeconds,
  };
}

/**
 * A warm-up run of every case (the first write to never-touched memory costs several CPU-s
 * per GiB in this VM, storage-transfer.md §B.3–B.4), then `repeat` interleaved rounds.
 */
export async function runRounds(
  title: string,
  cases: readonly Case[],
  ctx: BenchContext,
): Promise<Map<string, Sample[]>> {
  for (const c of cases) {
    const s = await measure(c, ctx.s3);
    console.log(`${title} warm-up ${c.name}: ${fmt(s.seconds, 3)} s`);
  }
  const samples = new Map<string, Sample[]>(cases.map((c) => [c.name, []]));
  for (let round = 1; round <= ctx.repeat; round += 1) {
    for (const c of cases) {
      const s = await measure(c, ctx.s3);
      samples.get(c.name)?.push(s);
      console.log(
        `${title} round ${round}/${ctx.repeat} ${c.name}: ${fmt(s.seconds, 3)} s, ` +
          `RSS ${fmt(s.maxRssMiB, 0)} MiB`,
      );
    }
  }
  return samples;
}

/** The median of one column of a case's samples (NaN when it has none). */
export function medianOf(
  samples: ReadonlyMap<string, Sample[]>,
  name: string,
  key: keyof Sample,
): number {
  return median(
    (samples.get(name) ?? []).flatMap((s) => {
      const v = s[key];
      return v === undefined ? [] : [v];
    }),
  );
}

/** Medians of every column, per case; CPU per GiB of `bytes`. */
export function sampleTable(samples: ReadonlyMap<string, Sample[]>, bytes: number): string {
  const gib = bytes / GIB;
  const rows = [...samples].map(([name, s]) => {
    const seconds = medianOf(samples, name, 'seconds');
    const callCpu = medianOf(samples, name, 'callCpuSeconds');
    return [
      name,
      fmt(seconds, 3),
      fmt(bytes / MIB / seconds, 0),
      fmt(medianOf(samples, name, 'processSeconds')),
      fmt(medianOf(samples, name, 'processCpuSeconds') / gib),
      Number.isNaN(callCpu) ? '-' : fmt(callCpu / gib),
      fmt(medianOf(samples, name, 'serverCpuSeconds')),
      fmt(medianOf(samples, name, 'maxRssMiB'), 0),
      s.map((x) => fmt(x.seconds)).join(' '),
    ];
  });
  return table(
    [
      'case',
      'median s',
      'MiB/s',
      'process s',
      'process CPU s/GiB',
      'call CPU s/GiB',
      's3rver CPU s',
      'peak RSS MiB',
      'runs (s)',
    ],
    rows,
  );
}

/** Fails unless files `a` and `b` hold the same bytes. */
export function cmp(a: string, b: string): void {
  try {
    execFileSync('cmp', ['-s', a, b]);
  } catch {
    throw new Error(`${a} differs from ${b}`);
  }
}

/** Fails unless nothing but `expected` is in `dir` (no temp siblings left behind). */
export async function checkNothingLeft(dir: string, expected: readonly string[]): Promise<void> {
  const extra = (await readdir(dir)).filter((n) => !expected.includes(n));
  if (extra.length > 0) {
    throw new Error(`left behind in ${dir}: ${extra.join(', ')}`);
  }
}

/** curl with `-sf` (an HTTP error fails). */
export function curl(args: readonly string[]): void {
  execFileSync('curl', ['-sf', ...args], { stdio: ['ignore', 'ignore', 'inherit'] });
}

/** The URL of an object, for anonymous requests (s3rver accepts them). */
export function objectUrl(ctx: BenchContext, key: string): string {
  return `${ctx.s3.endpoint}/${ctx.bucket}/${key}`;
}

/** A checkpoint of `files` in the bench bucket, as the master would describe it. */
export function checkpointOf(
  ctx: BenchContext,
  uuid: string,
  files: Record<string, { size: number; crc: string }>,
  endpoint = ctx.s3.endpoint,
): Record<string, unknown> {
  return {
    uuid,
    state: 'COMPLETED',
    resources: Object.fromEntries(Object.entries(files).map(([p, f]) => [p, f.size])),
    digests: {},
    crc32c: Object.fromEntries(Object.entries(files).map(([p, f]) => [p, f.crc])),
    metadata: { steps_completed: 1 },
    storageConfig: {
      type: 's3',
      bucket: ctx.bucket,
      prefix: ctx.prefix,
      endpoint_url: endpoint,
      access_key: 'S3RVER',
      secret_key: 'S3RVER',
    },
  };
}

/** Our client (`s3-transfer-child.ts`) in a process of its own. */
export const NODE_CHILD = [
  process.execPath,
  '--import',
  'tsx',
  '--conditions=source',
  join(import.meta.dirname, 's3-transfer-child.ts'),
] as const;

/** Runs our client with `spec` (written to `specFile`), under GNU time. */
export async function runOurs(
  mode: 'download' | 'upload' | 'lib-storage',
  spec: unknown,
  specFile: string,
  onLine?: (line: string) => void,
): Promise<MeasuredRun> {
  await writeFile(specFile, JSON.stringify(spec));
  return runMeasured(NODE_CHILD[0], [...NODE_CHILD.slice(1), mode, specFile], onLine);
}

/** A verdict that the value is at most (or at least) the target. */
export function judge(
  figure: string,
  value: number,
  op: '≤' | '≥',
  target: number,
  unit = '',
  digits = 2,
): Verdict {
  return {
    figure,
    value: `${fmt(value, digits)}${unit}`,
    target: `${op} ${target}${unit}`,
    pass: op === '≤' ? value <= target : value >= target,
  };
}
