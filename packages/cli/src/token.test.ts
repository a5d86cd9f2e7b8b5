import { describe, expect, it } from 'vitest';

import { ok, useCliMaster } from '../test/helpers.js';

const cli = useCliMaster('token', { login: false });
const { det } = cli;

interface ListedToken {
  id: number;
  description: string;
  revoked: boolean;
  scope: string;
}

describe('det token', () => {
  it('creates a scoped token, signs in with it, and revokes it', async () => {
    ok(await det('user', 'login', 'determined'));
    const created = ok(
      await det('token', 'create', '-d', 'serving', '--scope', 'download-only', '-e', '7'),
    );
    const match = /^TokenID: (\d+)\nAccess-Token: (dtsa1\.\S+)\n$/.exec(created);
    expect(match, created).not.toBeNull();
    const [, id, token] = match as unknown as [string, string, string];

    const listed = JSON.parse(ok(await det('token', 'list', '--json'))) as ListedToken[];
    expect(listed).toEqual([
      expect.objectContaining({ id: Number(id), description: 'serving', scope: 'download-only' }),
    ]);
    const table = ok(await det('token', 'ls'));
    expect(table).toMatch(/│ ID │ User ID │ Description │ .* │ Scope/);
    expect(table).toMatch(new RegExp(`│ ${id} +│ \\d+ +│ serving +│.*│ download-only │`));

    expect(ok(await det('token', 'login', token))).toBe('Authenticated as determined.\n');
    expect(ok(await det('user', 'whoami'))).toBe("You are logged in as user 'determined'\n");
    // A download-only token cannot mint tokens: the master's refusal, in one line.
    const refused = await det('token', 'create');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(
      /^det: .*has scope download-only, which does not allow POST \/api\/v1\/tokens.*\n$/,
    );

    ok(await det('user', 'login', 'determined'));
    expect(ok(await det('token', 'edit', id, '-d', 'model server'))).toBe(
      `Successfully updated token with ID: ${id}.\n`,
    );
    expect(ok(await det('token', 'revoke', id))).toBe(`Successfully revoked token ${id}.\n`);
    expect(JSON.parse(ok(await det('token', 'list', '--json')))).toEqual([]);
    const described = JSON.parse(ok(await det('token', 'describe', id, '--json'))) as ListedToken[];
    expect(described).toEqual([
      expect.objectContaining({ id: Number(id), description: 'model server', revoked: true }),
    ]);
    // The revoked token no longer signs anyone in.
    const stale = await det('token', 'login', token);
    expect(stale.code).toBe(1);
    expect(stale.stderr).toMatch(/was revoked/);
  });

  it('creates a token for another user by name (admins only)', async () => {
    ok(await det('user', 'login', 'admin'));
    const created = ok(await det('token', 'create', 'determined', '--json'));
    const { tokenId } = JSON.parse(created) as { tokenId: number };
    const mine = JSON.parse(
      ok(await det('token', 'list', 'determined', '--json')),
    ) as ListedToken[];
    expect(mine.map((t) => t.id)).toContain(tokenId);
    const unknown = await det('token', 'create', 'nobody');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/user 'nobody' not found/);
  });

  it('refuses bad arguments with exit code 2 and one line', async () => {
    for (const argv of [
      ['token', 'revoke', 'abc'],
      ['token', 'describe', '1', '0'],
      ['token', 'create', '-e', '0'],
      ['token', 'create', '--scope', 'everything'],
      ['token', 'edit', '1'],
    ]) {
      const run = await det(...argv);
      expect(run.code, argv.join(' ')).toBe(2);
      expect(run.stderr, argv.join(' ')).toMatch(/^det: [^\n]+\n$/);
    }
  });
});
