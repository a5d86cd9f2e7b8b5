// det-master as a real child process, run from the sources as `npm run master` runs it.
import { spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';

import pg from 'pg';

const MAIN = resolve(import.meta.dirname, '../src/main.ts');
// The repository root, where `--import tsx` resolves.
const ROOT = resolve(import.meta.dirname, '../../..');

/** Keeps the last this many characters of each stream, for failure messages. */
const KEEP_CHARS = 20_000;

export interface ChildMaster {
  child: ChildProcessWithoutNullStreams;
  /** The URL from its "listening" line. */
  url: string;
  /** Resolves when the process has exited (at once if it already has). */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves with the first stdout line (since the start) that matches, or rejects at exit. */
  waitForLine(pattern: RegExp): Promise<string>;
  stdout(): string;
  stderr(): string;
}

/**
 * Starts det-master with `argv` and nothing of this process's environment but PATH (and `env`),
 * and resolves once it prints its "listening" line; rejects with its output if it exits first.
 */
export async function spawnMaster(
  argv: readonly string[],
  { env = {} }: { env?: Record<string, string> } = {},
): Promise<ChildMaster> {
  const child = spawn(process.execPath, ['--import', 'tsx', '--conditions=source', MAIN, ...argv], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, ...env },
  });
  let out = '';
  let err = '';
  const waiters: { pattern: RegExp; resolve(line: string): void; reject(e: Error): void }[] = [];
  const check = (): void => {
    const lines = out.split('\n');
    for (const waiter of waiters.splice(0)) {
      const line = lines.find((l) => waiter.pattern.test(l));
      if (line === undefined) {
        waiters.push(waiter);
      } else {
        waiter.resolve(line);
      }
    }
  };
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    out += chunk;
    check();
  });
  child.stderr.on('data', (chunk: string) => {
    err = (err + chunk).slice(-KEEP_CHARS);
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) =>
    child.once('exit', (code, signal) => {
      for (const waiter of waiters.splice(0)) {
        waiter.reject(
          new Error(
            `det-master exited (${code ?? signal}) before printing ${waiter.pattern}:\n${out}\n${err}`,
          ),
        );
      }
      done({ code, signal });
    }),
  );
  let hasExited = false;
  void exited.then(() => (hasExited = true));
  const waitForLine = (pattern: RegExp): Promise<string> =>
    new Promise((resolveLine, reject) => {
      if (hasExited) {
        reject(new Error(`det-master has exited:\n${out}\n${err}`));
        return;
      }
      waiters.push({ pattern, resolve: resolveLine, reject });
      check();
    });
  const listening = await waitForLine(/^det-master listening on /);
  return {
    child,
    url: listening.replace(/^det-master listening on /, '').trim(),
    exited,
    waitForLine,
    stdout: () => out.slice(-KEEP_CHARS),
    stderr: () => err,
  };
}

/** A loopback port nothing listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((done, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => done(port));
    });
  });
}

/**
 * A fresh PostgreSQL database on the server `DET_TEST_POSTGRES_URL` names, for a master in
 * another process: a database of its own, not a schema, so its migrations never look at other
 * tests' schemas. `drop` removes it, ending whatever sessions a killed master left.
 */
export async function freshPostgresDatabase(): Promise<{
  url: string;
  drop: () => Promise<void>;
}> {
  const base = process.env.DET_TEST_POSTGRES_URL;
  if (base === undefined) {
    throw new Error('DET_TEST_POSTGRES_URL is not set');
  }
  const name = `det_test_${randomBytes(6).toString('hex')}`;
  const admin = async (statement: string): Promise<void> => {
    const client = new pg.Client({ connectionString: base });
    await client.connect();
    try {
      await client.query(statement);
    } finally {
      await client.end();
    }
  };
  await admin(`create database ${name}`);
  const url = new URL(base);
  url.pathname = `/${name}`;
  return { url: url.href, drop: () => admin(`drop database if exists ${name} with (force)`) };
}
