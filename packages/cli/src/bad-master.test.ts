import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import {
  SSO_PAGE,
  startScriptedMaster,
  wireCheckpoint,
  wireLogin,
  wirePagination,
  wireTrial,
} from '../../sdk/test/scripted-master.js';
import type { ScriptedMaster } from '../../sdk/test/scripted-master.js';
import { runDet } from '../test/helpers.js';
import type { DetRun } from '../test/helpers.js';

/*
 * `det` against a master (or a proxy in front of one) that answers garbage, over a real socket:
 * one line on stderr, `det: <call>: <what was wrong>`, exit code 1 as for any failure of the
 * master, no stack trace, and no files from a checkpoint it refused.
 */

const UUID = '0f1e2d3c-0000-4000-8000-000000000001';

let master: ScriptedMaster;
let cwd: string;

beforeEach(async () => {
  master = await startScriptedMaster();
  master.answer('POST /api/v1/auth/login', wireLogin());
  cwd = await mkdtemp(join(tmpdir(), 'det-garbage-'));
});
afterEach(async () => {
  await master.close();
  await rm(cwd, { recursive: true, force: true });
});

const det = (...argv: string[]): Promise<DetRun> =>
  runDet({ baseUrl: master.url, fetch: (input, init) => globalThis.fetch(input, init) }, cwd, argv);

/** Checks the run failed with exactly `message` as its one line, and returns its stdout. */
function failedWith(run: DetRun, message: string | RegExp): string {
  expect(run.code).toBe(1);
  expect(run.stderr.endsWith('\n')).toBe(true);
  expect(run.stderr.trimEnd().split('\n')).toHaveLength(1);
  expect(run.stderr).not.toMatch(/\n\s+at /);
  expect(run.stderr.trimEnd()).toMatch(message);
  return run.stdout;
}

const line = (text: string): RegExp =>
  new RegExp(`^${text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`);

describe('det against a master that answers garbage', () => {
  it('names the call for truncated JSON', async () => {
    master.answer('GET /api/v1/trials/7', {
      body: JSON.stringify({ trial: wireTrial(7) }).slice(0, 40),
    });
    const stdout = failedWith(
      await det('trial', 'describe', '7'),
      line('det: GET /api/v1/trials/7: truncated JSON (40 bytes)'),
    );
    expect(stdout).toBe('');
  });

  it('names the call and the page for a proxy’s HTML with a 200', async () => {
    master.answer('GET /api/v1/experiments', {
      headers: { 'content-type': 'text/html' },
      body: SSO_PAGE,
    });
    failedWith(
      await det('experiment', 'list'),
      line(
        "det: GET /api/v1/experiments: expected JSON, got text/html (a proxy's error page?): Sign in - Corp SSO",
      ),
    );
  });

  it('names the page of a proxy’s 500, not its HTML', async () => {
    master.answer('GET /api/v1/trials/7', {
      status: 500,
      headers: { 'content-type': 'text/html' },
      body: `<html><head><title>500 Internal Server Error</title></head><body>${'x'.repeat(3000)}</body></html>`,
    });
    failedWith(
      await det('trial', 'describe', '7'),
      line(
        "det: GET /api/v1/trials/7: 500 internal: expected JSON, got text/html (a proxy's error page?): 500 Internal Server Error",
      ),
    );
  });

  it('names the call and the field for a value of the wrong type', async () => {
    master.answer(`GET /api/v1/checkpoints/${UUID}`, {
      checkpoint: wireCheckpoint(UUID, 7, { resources: { 'w.bin': 'lots' } }),
    });
    failedWith(
      await det('checkpoint', 'describe', UUID),
      line(
        `det: GET /api/v1/checkpoints/${UUID}: field checkpoint.resources[w.bin]: expected an integer, got "lots"`,
      ),
    );
  });

  it('names the call and the field in the answers `det user` prints as sent', async () => {
    master.answer('POST /api/v1/users', { user: { id: 'seven', username: 'bob' } });
    failedWith(
      await det('user', 'create', 'bob'),
      line('det: POST /api/v1/users: field user.id: expected an integer, got "seven"'),
    );
  });

  it('treats a 200 with an error body as the error it is', async () => {
    master.answer(`GET /api/v1/checkpoints/${UUID}`, {
      error: { code: 5, reason: 'NotFound', error: `checkpoint '${UUID}' not found` },
    });
    failedWith(
      await det('checkpoint', 'describe', UUID),
      line(
        `det: GET /api/v1/checkpoints/${UUID}: 200 with an error body: checkpoint '${UUID}' not found`,
      ),
    );
  });

  it('prints the good lines of a stream, then names the bad one', async () => {
    const good = JSON.stringify({ result: { id: '1', log: 'hello\n' } });
    master.answer('GET /api/v1/trials/7/logs', { body: `${good}\n{"result": {"id"\n` });
    const stdout = failedWith(
      await det('trial', 'logs', '7'),
      /^det: GET \/api\/v1\/trials\/7\/logs: stream line 2: truncated JSON \(16 bytes\)$/,
    );
    expect(stdout).toBe('hello\n');
  });

  it('names the login when a proxy answers it', async () => {
    master.answer('POST /api/v1/auth/login', {
      headers: { 'content-type': 'text/html' },
      body: SSO_PAGE,
    });
    failedWith(
      await det('user', 'whoami'),
      line(
        "det: POST /api/v1/auth/login: expected JSON, got text/html (a proxy's error page?): Sign in - Corp SSO",
      ),
    );
  });
});

describe('det refuses to download a checkpoint whose own data is unsafe', () => {
  // Downloads go to dl/out: the target and its temporary sibling would both land in dl.
  let dl: string;
  beforeEach(async () => {
    dl = join(cwd, 'dl');
    await mkdir(dl);
  });

  it('refuses a resource path that leaves the target, writing nothing', async () => {
    master.answer(`GET /api/v1/checkpoints/${UUID}`, {
      checkpoint: wireCheckpoint(UUID, 7, { resources: { '../x': '3', 'w.bin': '4' } }),
    });
    failedWith(
      await det('checkpoint', 'download', UUID, '-o', 'dl/out', '--mode', 'master'),
      line(`det: checkpoint ${UUID}: refusing path "../x": it contains '..'`),
    );
    expect(await readdir(dl)).toEqual([]);
    expect(master.seen).not.toContain(`GET /checkpoints/${UUID}`);
  });

  it('refuses a checkpoint with a size that is not a number before downloading', async () => {
    master.answer('GET /api/v1/master', { version: '0.38.1' });
    master.answer(`GET /api/v1/checkpoints/${UUID}`, {
      checkpoint: wireCheckpoint(UUID, 7, { resources: { 'w.bin': '4 bytes' } }),
    });
    failedWith(
      await det('trial', 'download', '7', '--uuid', UUID, '-o', 'dl/out'),
      line(
        `det: GET /api/v1/checkpoints/${UUID}: field checkpoint.resources[w.bin]: expected an integer, got "4 bytes"`,
      ),
    );
    expect(await readdir(dl)).toEqual([]);
  });

  it('refuses the best checkpoint when its listing is garbage', async () => {
    master.answer('GET /api/v1/master', { version: '0.38.1' });
    master.answer('GET /api/v1/trials/7/checkpoints', {
      checkpoints: [wireCheckpoint(UUID, 7, { uuid: '/etc' })],
      pagination: wirePagination(1),
    });
    failedWith(
      await det(
        'trial',
        'download',
        '7',
        '--best',
        '--sort-by',
        'loss',
        '--smaller-is-better',
        'true',
        '-o',
        'dl/out',
      ),
      line(
        'det: GET /api/v1/trials/7/checkpoints: field checkpoints[0].uuid: expected a UUID, got "/etc"',
      ),
    );
    expect(await readdir(dl)).toEqual([]);
  });
});
