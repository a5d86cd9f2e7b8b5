/**
 * What `s3-transfer.ts` runs its cases with: s3rver in a process of its own (so its CPU is its
 * own, read from procfs), a byte-counting TCP proxy, clients run under GNU time, random files
 * with their CRC32C, and the boto3 anchor as a Python script.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomFillSync, randomUUID } from 'node:crypto';
import { closeSync, createReadStream, openSync, readFileSync, writeSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { createServer, connect } from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { crc32c, crc32cHex } from '../packages/storage/src/checksum.js';

export const MIB = 1024 * 1024;
export const GIB = 1024 * MIB;
export const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
/** Debian's python3, which has python3-boto3 (1.26 / s3transfer 0.6), not a pyenv one. */
export const PYTHON = '/usr/bin/python3';
export const CHILD_ENV: NodeJS.ProcessEnv = {
  ...process.env,
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
};
/** The CPU clock's ticks per second (`getconf CLK_TCK`), which procfs counts in. */
const CLOCK_TICKS = 100;

export interface S3rverProcess {
  endpoint: string;
  port: number;
  /** s3rver's user + system CPU so far, in seconds. */
  cpuSeconds(): number;
  close(): Promise<void>;
}

/** A free port on 127.0.0.1 (closed again before it is used). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** utime + stime of a process, in seconds (procfs `stat`, fields 14 and 15). */
export function processCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name may hold spaces: the fields that follow start after its `)`.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

/**
 * s3rver 3.7.1 from its own bin, in a process of its own on a free loopback port, with bucket
 * `bucket`; it is ready when it answers HTTP.
 */
export async function startS3rverProcess(dir: string, bucket: string): Promise<S3rverProcess> {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [
      join(REPO_ROOT, 'node_modules/s3rver/bin/s3rver.js'),
      '-d',
      dir,
      '-a',
      '127.0.0.1',
      '-p',
      String(port),
      '--silent',
      '--configure-bucket',
      bucket,
    ],
    { stdio: ['ignore', 'ignore', 'inherit'], env: CHILD_ENV },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const endpoint = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i += 1) {
    const isUp = await fetch(`${endpoint}/${bucket}`).then(
      async (res) => {
        await res.arrayBuffer();
        return true;
      },
      () => false,
    );
    if (isUp) {
      break;
    }
    if (i === 100 || child.exitCode !== null) {
      child.kill();
      throw new Error(`s3rver did not start on ${endpoint}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const pid = child.pid ?? 0;
  return {
    endpoint,
    port,
    cpuSeconds: () => processCpuSeconds(pid),
    close: async () => {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

export interface CountingProxy {
  endpoint: string;
  /** Bytes sent by the server to clients since the last `reset`. */
  bytes(): number;
  reset(): void;
  /** Stops forwarding in both directions (a client about to be killed gets nothing more). */
  hold(): void;
  release(): void;
  close(): Promise<void>;
}

/** A TCP proxy in front of `port` that counts the bytes the server sends back. */
export async function startCountingProxy(port: number): Promise<CountingProxy> {
  let bytes = 0;
  let isHeld = false;
  const pairs = new Set<[Socket, Socket]>();
  const server = createServer((client) => {
    const upstream = connect(port, '127.0.0.1');
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    const forward = (from: Socket, to: Socket, isCounted: boolean): void => {
      from.on('data', (chunk: Buffer) => {
        if (isCounted) {
          bytes += chunk.length;
        }
        if (!to.write(chunk)) {
          from.pause();
        }
      });
      to.on('drain', () => {
        if (!isHeld) {
          from.resume();
        }
      });
    };
    forward(upstream, client, true);
    forward(client, upstream, false);
    const close = (): void => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    for (const s of pair) {
      s.on('error', close);
      s.on('close', close);
    }
    if (isHeld) {
      client.pause();
      upstream.pause();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port: own } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${own}`,
    bytes: () => bytes,
    reset: () => {
      bytes = 0;
    },
    hold: () => {
      isHeld = true;
      for (const pair of pairs) {
        pair.forEach((s) => s.pause());
      }
    },
    release: () => {
      isHeld = false;
      for (const pair of pairs) {
        pair.forEach((s) => s.resume());
      }
    },
    close: async () => {
      for (const pair of pairs) {
        pair.forEach((s) => s.destroy());
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** One client process, measured by GNU time, and what it printed as `RESULT <json>`. */
export interface MeasuredRun {
  code: number;
  wallSeconds: number;
  cpuSeconds: number;
  maxRssMiB: number;
  stdout: string;
  stderr: string;
  result: Record<string, unknown> | undefined;
}

/** Runs `cmd` under `/usr/bin/time -f '%e %U %S %M'`; never throws for the exit code. */
export async function runMeasured(
  cmd: string,
  args: readonly string[],
  onLine?: (line: string) => void,
): Promise<MeasuredRun> {
  const timeFile = join(tmpdir(), `det-bench-time-${randomUUID()}`);
  const child = spawn('/usr/bin/time', ['-f', '%e %U %S %M', '-o', timeFile, cmd, ...args], {
    cwd: REPO_ROOT,
    env: CHILD_ENV,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const { stdout, stderr, code } = await collect(child, onLine);
  const timeLines = (await readFile(timeFile, 'utf8')).trim().split('\n');
  await rm(timeFile, { force: true });
  const [wall = NaN, user = NaN, sys = NaN, rssKiB = NaN] = (timeLines.at(-1) ?? '')
    .split(' ')
    .map(Number);
  const resultLine = stdout.split('\n').find((l) => l.startsWith('RESULT '));
  return {
    code,
    wallSeconds: wall,
    cpuSeconds: user + sys,
    maxRssMiB: rssKiB / 1024,
    stdout,
    stderr,
    result:
      resultLine === undefined
        ? undefined
        : (JSON.parse(resultLine.slice('RESULT '.length)) as Record<string, unknown>),
  };
}

/** Throws with the run's stderr unless it exited 0 and printed a result. */
export function succeeded(run: MeasuredRun, what: string): MeasuredRun {
  if (run.code !== 0) {
    throw new Error(`${what} exited with ${run.code}: ${run.stderr.trim().slice(-2000)}`);
  }
  return run;
}

/** A number the run's result holds. */
export function resultNumber(run: MeasuredRun, key: string): number {
  const value = run.result?.[key];
  if (typeof value !== 'number') {
    throw new Error(`no ${key} in the result: ${run.stdout.slice(-500)}`);
  }
  return value;
}

/** A child's stdout and stderr, and its exit code; `onLine` sees stdout's lines as they come. */
export async function collect(
  child: ChildProcess,
  onLine?: (line: string) => void,
): Promise<{ stdout: string; stderr: string; code: number }> {
  let stdout = '';
  let stderr = '';
  let partial = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    const text = chunk.toString();
    stdout += text;
    if (onLine !== undefined) {
      const lines = (partial + text).split('\n');
      partial = lines.pop() ?? '';
      lines.forEach(onLine);
    }
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const code = await new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (c: number | null) => resolve(c ?? -1));
  });
  return { stdout, stderr, code };
}

/** Writes `size` random (incompressible) bytes to `path` and returns their CRC32C as hex. */
export function writeRandomFile(path: string, size: number): string {
  const buffer = Buffer.allocUnsafe(Math.min(size, 16 * MIB));
  const fd = openSync(path, 'w');
  let crc = 0;
  try {
    for (let at = 0; at < size;) {
      const piece = buffer.subarray(0, Math.min(buffer.length, size - at));
      randomFillSync(piece);
      crc = crc32c(piece, crc);
      for (let done = 0; done < piece.length;) {
        done += writeSync(fd, piece, done, piece.length - done);
      }
      at += piece.length;
    }
  } finally {
    closeSync(fd);
  }
  return crc32cHex(crc);
}

/** The CRC32C of a file (read here, not by the code under test), as hex, and its size. */
export async function crc32cOfFile(path: string): Promise<{ crc: string; size: number }> {
  let crc = 0;
  let size = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 4 * MIB })) {
    const piece = chunk as Buffer;
    crc = crc32c(piece, crc);
    size += piece.length;
  }
  return { crc: crc32cHex(crc), size };
}

/**
 * The boto3 anchor, Determined's Python path: `mode endpoint bucket key path`, where mode is
 * `get` (download_file, default TransferConfig), `put` (upload_file, default) or `getdir`
 * (Determined's loop: ListObjects through the resource, then download_file per key, one at a
 * time; `key` is the prefix). Times the transfer alone (clients made before), CPU by getrusage.
 */
export const BOTO3_SCRIPT = `
import json, os, resource, sys, time
import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config

def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime

mode, endpoint, bucket_name, key, path = sys.argv[1:6]
kw = dict(endpoint_url=endpoint, region_name='us-east-1', aws_access_key_id='S3RVER',
          aws_secret_access_key='S3RVER',
          config=Config(s3={'addressing_style': 'path'}, max_pool_connections=64))
if mode == 'getdir':
    bucket = boto3.resource('s3', **kw).Bucket(bucket_name)
else:
    s3 = boto3.client('s3', **kw)
c0, t0 = cpu(), time.perf_counter()
if mode == 'get':
    s3.download_file(bucket_name, key, path, Config=TransferConfig())
elif mode == 'put':
    s3.upload_file(path, bucket_name, key, Config=TransferConfig())
elif mode == 'getdir':
    for obj in bucket.objects.filter(Prefix=key):
        dst = os.path.join(path, os.path.relpath(obj.key, key))
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        if obj.key.endswith('/'):
            continue
        bucket.download_file(obj.key, dst)
else:
    raise SystemExit('unknown mode ' + mode)
seconds = time.perf_counter() - t0
print('RESULT ' + json.dumps({'seconds': seconds, 'cpuSeconds': cpu() - c0}))
`;
