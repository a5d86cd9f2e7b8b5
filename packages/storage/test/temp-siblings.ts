// Helpers for tests of the temporary siblings downloads fill (createTempSibling and its sweep).
import { spawnSync } from 'node:child_process';
import { mkdir, utimes, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';

import { expect } from 'vitest';

/** The pid of a process that has exited (and been reaped), so no longer alive. */
export function deadPid(): number {
  const { pid, status } = spawnSync(process.execPath, ['-e', '0']);
  expect(status).toBe(0);
  return pid;
}

/** This host's tag, as the names createTempSibling makes carry it. */
export function hostTagOf(temp: string): string {
  const match = /\.partial-(\d+)-([0-9a-f]{8})-[0-9a-f]{12}$/.exec(basename(temp));
  expect(match?.[1]).toBe(String(process.pid));
  return match?.[2] ?? '';
}

/** Makes a sibling directory `name` in `dir`, last modified `ageMs` ago. */
export async function leftover(dir: string, name: string, ageMs: number): Promise<string> {
  const path = join(dir, name);
  await mkdir(join(path, 'inner'), { recursive: true });
  await writeFile(join(path, 'inner', 'part.bin'), 'x');
  const when = new Date(Date.now() - ageMs);
  await utimes(path, when, when);
  return path;
}
