import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';

import { afterAll, beforeAll, expect } from 'vitest';

import type { CliIo } from '../src/io.js';
import { main } from '../src/main.js';
import {
  createTrial,
  endTrial,
  reportCheckpoint,
  reportMetrics,
  startInProcessMaster,
  testUuid,
} from '../../sdk/test/master.js';
import type { MasterTarget, SeededTrial } from '../../sdk/test/master.js';

export { startInProcessMaster, startLoopbackMaster } from '../../sdk/test/master.js';
export type { MasterTarget } from '../../sdk/test/master.js';

/** A stream that keeps what is written to it. */
export class Capture extends Writable {
  text = '';
  override _write(chunk: Buffer, _enc: string, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

export interface DetRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `det` in-process against `master`, with the token cache under `configDir`. */
export async function runDet(
  master: Pick<MasterTarget, 'baseUrl' | 'fetch'>,
  configDir: string,
  argv: string[],
  io: Partial<CliIo> = {},
): Promise<DetRun> {
  const stdout = new Capture();
  const stderr = new Capture();
  const code = await main(['-m', master.baseUrl, ...argv], {
    stdout,
    stderr,
    env: { DET_DEBUG_CONFIG_PATH: configDir },
    fetch: master.fetch,
    cwd: configDir,
    ...io,
  });
  return { code, stdout: stdout.text, stderr: stderr.text };
}

/** One test file's master (in-process, SQLite) and `det` config directory; see {@link useCliMaster}. */
export interface CliMaster {
  /** The master, from the file's first `beforeAll` on. */
  readonly master: MasterTarget;
  /** `det`'s config directory (its token cache) and working directory. */
  readonly configDir: string;
  readonly det: (...argv: string[]) => Promise<DetRun>;
  /** `det` with other streams or environment (a terminal, a failing fetch). */
  readonly run: (argv: string[], io?: Partial<CliIo>) => Promise<DetRun>;
}

/**
 * Starts a master and makes a config directory before the file's tests, logged in as
 * `determined` unless `login` is false, and removes both after them. Call it at the top of the
 * file: `beforeAll` hooks registered after it see the master.
 */
export function useCliMaster(name: string, { login = true } = {}): CliMaster {
  let master: MasterTarget | undefined;
  let configDir: string | undefined;
  const cli: CliMaster = {
    get master(): MasterTarget {
      if (master === undefined) {
        throw new Error('useCliMaster: the master starts in beforeAll');
      }
      return master;
    },
    get configDir(): string {
      if (configDir === undefined) {
        throw new Error('useCliMaster: the config directory is made in beforeAll');
      }
      return configDir;
    },
    det: (...argv) => runDet(cli.master, cli.configDir, argv),
    run: (argv, io) => runDet(cli.master, cli.configDir, argv, io),
  };
  beforeAll(async () => {
    master = await startInProcessMaster('sqlite');
    configDir = await mkdtemp(join(tmpdir(), `det-cli-${name}-`));
    if (login) {
      ok(await cli.det('user', 'login', 'determined'));
    }
  });
  afterAll(async () => {
    await master?.close();
    if (configDir !== undefined) {
      await rm(configDir, { recursive: true, force: true });
    }
  });
  return cli;
}

/** The bytes of a checkpoint's directory in `master`'s local storage. */
export async function storedBytes(master: MasterTarget, uuid: string): Promise<number> {
  const dir = join(master.storageDir, uuid);
  let total = 0;
  for (const name of await readdir(dir)) {
    total += (await stat(join(dir, name))).size;
  }
  return total;
}

/** For each uuid, whether its directory is still in `master`'s local storage. */
export function onDisk(master: MasterTarget, uuids: string[]): boolean[] {
  return uuids.map((u) => existsSync(join(master.storageDir, u)));
}

/** Checks the run succeeded with nothing on stderr, and returns its stdout. */
export function ok(run: DetRun): string {
  expect(run.stderr, run.stderr).toBe('');
  expect(run.code).toBe(0);
  return run.stdout;
}

/** Checks the run failed with `code` and exactly one line on stderr matching `message`. */
export function failed(run: DetRun, code: number, message: RegExp): void {
  expect(run.stdout).toBe('');
  expect(run.code, run.stderr).toBe(code);
  expect(run.stderr.endsWith('\n')).toBe(true);
  expect(run.stderr.trimEnd().split('\n')).toHaveLength(1);
  expect(run.stderr.trimEnd()).toMatch(message);
}

/**
 * The rows of the table in `text` whose first header is `first` (else of its first table), each
 * as header → cell.
 */
export function tableRows(text: string, first?: string): Record<string, string>[] {
  const tables = text.split(/\n(?=┌)/).map((chunk) =>
    chunk
      .split('\n')
      .filter((l) => l.startsWith('│'))
      .map((l) =>
        l
          .split('│')
          .slice(1, -1)
          .map((c) => c.trim()),
      ),
  );
  const [head = [], ...body] =
    (first === undefined
      ? tables.find((t) => t.length > 0)
      : tables.find((t) => t[0]?.[0] === first)) ?? [];
  return body.map((cells) => Object.fromEntries(head.map((h, i) => [h, cells[i] ?? ''])));
}

/** A stdin that claims to be a terminal and types `text`. */
export function terminal(text: string): NodeJS.ReadableStream & { isTTY: boolean } {
  const stream = Object.assign(new PassThrough(), { isTTY: true });
  stream.end(text);
  return stream;
}

/** One tensor `w`: float32 [2, 2] = 1, 2, 3, 4, in the safetensors format. */
export function safetensorsBytes(): Buffer {
  let header = JSON.stringify({ w: { dtype: 'F32', shape: [2, 2], data_offsets: [0, 16] } });
  header = header.padEnd(Math.ceil(header.length / 8) * 8, ' ');
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(header.length));
  return Buffer.concat([
    length,
    Buffer.from(header),
    Buffer.from(new Float32Array([1, 2, 3, 4]).buffer),
  ]);
}

export interface SeededExperiment {
  trial: SeededTrial;
  /** Checkpoint UUIDs at steps 1, 2, 3; validation losses 0.5, 0.2, 0.4: best is [1], latest [2]. */
  uuids: string[];
}

/** An experiment with one trial and three checkpoints whose files really exist in storage. */
export async function seedExperiment(
  master: MasterTarget,
  { ended = false }: { ended?: boolean } = {},
): Promise<SeededExperiment> {
  const client = await master.login();
  const trial = await createTrial(client, { storageDir: master.storageDir });
  const uuids: string[] = [];
  const losses = [0.5, 0.2, 0.4];
  for (const [i, loss] of losses.entries()) {
    const steps = (i + 1) * 100;
    const uuid = testUuid(7);
    const files = {
      'model.safetensors': safetensorsBytes(),
      'metadata.json': Buffer.from(JSON.stringify({ steps_completed: steps })),
    };
    await mkdir(join(master.storageDir, uuid), { recursive: true });
    for (const [name, bytes] of Object.entries(files)) {
      await writeFile(join(master.storageDir, uuid, name), bytes);
    }
    await reportMetrics(client, trial, 'training', steps, { loss: loss + 0.1 });
    await reportMetrics(client, trial, 'validation', steps, { validation_loss: loss });
    await reportCheckpoint(client, trial, {
      uuid,
      steps,
      resources: Object.fromEntries(Object.entries(files).map(([n, b]) => [n, b.length])),
    });
    uuids.push(uuid);
  }
  if (ended) {
    await endTrial(client, trial);
  }
  return { trial, uuids };
}
