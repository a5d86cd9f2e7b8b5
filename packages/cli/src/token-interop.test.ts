// Determined's own `det token` (v0.38.1's Python CLI) against our master over loopback: create
// for a user by name, list, describe, edit, revoke and log in with a token, as its argparse
// commands call the API. Skips when Python, the harness or the CLI's modules are absent.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { loopbackMaster } from '../../sdk/test/core-helpers.js';
import type { TestMaster } from '../../sdk/test/core-helpers.js';
import {
  findPythonSdk,
  harnessDir,
  missingCliModules,
  runPythonArgv,
} from '../../../test/python-harness.js';

const prerequisites = findPythonSdk();
const missing = prerequisites.missing ?? missingCliModules();
if (missing !== undefined) {
  process.stderr.write(`det token interop test skipped: missing ${missing}\n`);
}

interface PyTokenInfo {
  id: number;
  userId: number;
  description: string;
  revoked: boolean;
  tokenType: string;
  expiry: string;
}

describe.skipIf(missing !== undefined)("Determined's `det token` against our master", () => {
  let scratch = '';
  let pythonPath = '';
  let m: TestMaster;

  /** Runs Determined's CLI as `user`, with its token cache in the scratch home. */
  const pyDet = (
    user: string | undefined,
    ...argv: string[]
  ): Promise<{ code: number | null; stdout: string; stderr: string }> =>
    runPythonArgv(
      ['-m', 'determined.cli', ...(user === undefined ? [] : ['-u', user]), ...argv],
      { HOME: join(scratch, 'home'), PYTHONPATH: pythonPath, DET_MASTER: m.url },
      // The built-in users' empty password, for the one prompt `det user login` shows.
      { timeoutMs: 60_000, input: '\n' },
    );

  const ok = async (user: string | undefined, ...argv: string[]): Promise<string> => {
    const run = await pyDet(user, ...argv);
    expect(run.code, `det ${argv.join(' ')}: ${run.stderr}`).toBe(0);
    return run.stdout;
  };

  beforeAll(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'det-token-py-'));
    if (prerequisites.source === undefined) {
      throw new Error('no harness source');
    }
    pythonPath = await harnessDir(prerequisites.source, scratch);
    m = await loopbackMaster();
  }, 120_000);

  afterAll(async () => {
    await m.close();
    await rm(scratch, { recursive: true, force: true });
  });

  it('creates, lists, describes, edits and revokes tokens, and logs in with one', async () => {
    await ok(undefined, 'user', 'login', 'admin');
    // An admin creates a token for another user by name, with an expiry in days.
    const created = await ok('admin', 'token', 'create', 'determined', '-e', '3', '-d', 'nightly');
    const match = /TokenID: (\d+)\nAccess-Token: (\S+)/.exec(created);
    expect(match, created).not.toBeNull();
    const [, id, token] = match as unknown as [string, string, string];

    const listed = JSON.parse(
      await ok('admin', 'token', 'list', 'determined', '--json'),
    ) as PyTokenInfo[];
    expect(listed).toEqual([
      expect.objectContaining({
        id: Number(id),
        description: 'nightly',
        revoked: false,
        tokenType: 'TOKEN_TYPE_ACCESS_TOKEN',
      }),
    ]);
    const [info] = listed;
    const lifespan = Date.parse(info?.expiry ?? '') - Date.now();
    expect(lifespan).toBeGreaterThan(3 * 24 * 3600 * 1000 - 120_000);
    expect(lifespan).toBeLessThanOrEqual(3 * 24 * 3600 * 1000);

    // The table the CLI draws from our answers.
    const table = await ok('admin', 'token', 'describe', id);
    expect(table).toMatch(/ID \| +User ID \| Description/);
    expect(table).toMatch(
      new RegExp(`\\b${id} \\| +\\d+ \\| nightly +\\| .* \\| False +\\| ACCESS_TOKEN`),
    );

    expect(await ok('admin', 'token', 'edit', id, '-d', 'weekly')).toContain(
      `Successfully updated token with ID: ${id}.`,
    );

    // `det token login` stores the token as its user's session, and later commands use it.
    expect(await ok(undefined, 'token', 'login', token)).toContain('Authenticated as determined.');
    expect(await ok(undefined, 'user', 'whoami')).toContain(
      "You are logged in as user 'determined'",
    );

    expect(await ok('admin', 'token', 'revoke', id)).toContain(`Successfully revoked token ${id}.`);
    const inactive = JSON.parse(
      await ok('admin', 'token', 'list', '--show-inactive', '--json'),
    ) as PyTokenInfo[];
    expect(inactive).toEqual([
      expect.objectContaining({ id: Number(id), description: 'weekly', revoked: true }),
    ]);
    expect(JSON.parse(await ok('admin', 'token', 'list', '--json'))).toEqual([]);
    // The revoked token no longer signs anyone in.
    const after = await fetch(`${m.url}/api/v1/me`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(after.status).toBe(401);
  }, 120_000);
});
