import { existsSync } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';

import { beforeAll, describe, expect, it } from 'vitest';

import { safetensorsBytes, seedExperiment, useCliMaster } from '../test/helpers.js';
import type { DetRun, SeededExperiment } from '../test/helpers.js';

const cli = useCliMaster('main', { login: false });
const { det } = cli;
let seeded: SeededExperiment;

beforeAll(async () => {
  seeded = await seedExperiment(cli.master);
});

function json<T>(run: DetRun): T {
  expect(run.stderr, run.stderr).not.toMatch(/det: /);
  expect(run.code).toBe(0);
  return JSON.parse(run.stdout) as T;
}

describe('det version', () => {
  it("prints the client's and the master's versions", async () => {
    const run = await det('version');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(
      /^client: \d+\.\d+\.\d+\nmaster: http:\/\/master\.test:80\n {2}version: test\n/,
    );
    const out = json<{ master: { version: string } }>(await det('version', '--json'));
    expect(out.master.version).toBe('test');
  });
});

describe('det user', () => {
  it('logs in, shares the token cache, and logs out', async () => {
    const login = await det('user', 'login', 'determined');
    expect(login.code).toBe(0);
    const cache = JSON.parse(await readFile(join(cli.configDir, 'auth.json'), 'utf8')) as {
      masters: Record<string, { active_user?: string; tokens?: Record<string, string> }>;
    };
    const entry = cache.masters['http://master.test:80'];
    expect(entry?.active_user).toBe('determined');
    expect(entry?.tokens?.determined).toMatch(/\S/);

    const who = await det('user', 'whoami');
    expect(who.stdout).toBe("You are logged in as user 'determined'\n");

    expect((await det('user', 'logout')).code).toBe(0);
    const after = JSON.parse(
      await readFile(join(cli.configDir, 'auth.json'), 'utf8'),
    ) as typeof cache;
    expect(after.masters['http://master.test:80']?.active_user).toBeUndefined();
  });

  it('creates a user who logs in with the password, then changes it', async () => {
    const created = json<{ username: string; admin: boolean }>(
      await det('-u', 'admin', 'user', 'create', 'alice', '--password', 's3cret', '--json'),
    );
    expect(created).toMatchObject({ username: 'alice', admin: false });

    const wrong = await det('user', 'login', 'alice', '--password', 'nope');
    expect(wrong.code).toBe(1);
    expect(wrong.stderr.trim().split('\n')).toHaveLength(1);

    expect((await det('user', 'login', 'alice', '--password', 's3cret')).code).toBe(0);
    const me = json<{ username: string }>(await det('user', 'whoami', '--json'));
    expect(me.username).toBe('alice');

    expect((await det('user', 'change-password', '--password', 'n3w')).code).toBe(0);
    expect((await det('user', 'login', 'alice', '--password', 'n3w')).code).toBe(0);
    expect((await det('user', 'logout')).code).toBe(0);
  });

  it('refuses to ask for a new password when stdin is not a terminal', async () => {
    const run = await det('user', 'change-password');
    expect(run.code).toBe(2);
    expect(run.stderr).toBe(
      'det: pass the new password with --password (stdin is not a terminal)\n',
    );
  });
});

describe('det experiment', () => {
  it('lists experiments as a table and as JSON', async () => {
    const table = await det('experiment', 'list');
    expect(table.code).toBe(0);
    expect(table.stdout).toContain('sdk-test');
    const list = json<{ id: number }[]>(await det('e', 'list', '--json'));
    expect(list.map((e) => e.id)).toContain(seeded.trial.experimentId);
  });

  it('pages, sorts and filters the list on the master', async () => {
    const first = json<{ id: number }[]>(
      await det('e', 'list', '--limit', '1', '--sort', 'id', '--order', 'desc', '--json'),
    );
    expect(first).toHaveLength(1);
    const all = json<{ id: number }[]>(await det('e', 'list', '--json'));
    expect(first[0]?.id).toBe(Math.max(...all.map((e) => e.id)));
    const none = json<unknown[]>(await det('e', 'list', '--name', 'no-such-experiment', '--json'));
    expect(none).toEqual([]);
    const bad = await det('e', 'list', '--sort', 'colour');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/colour/);
    expect((await det('e', 'list', '--offset', '-1')).code).toBe(2);
  });

  it('describes an experiment with its trials', async () => {
    const id = String(seeded.trial.experimentId);
    const out = json<{ experiment: { id: number }; trials: { id: number }[] }>(
      await det('experiment', 'describe', id, '--json'),
    );
    expect(out.experiment.id).toBe(seeded.trial.experimentId);
    expect(out.trials.map((t) => t.id)).toEqual([seeded.trial.trialId]);
    expect((await det('experiment', 'describe', id)).stdout).toContain(`${seeded.trial.trialId}`);
  });

  it('lists checkpoints, and the best N by the searcher metric', async () => {
    const id = String(seeded.trial.experimentId);
    const all = json<{ uuid: string }[]>(await det('experiment', 'list-checkpoints', id, '--json'));
    expect(all.map((c) => c.uuid)).toEqual(seeded.uuids);
    const best = json<{ uuid: string }[]>(
      await det('experiment', 'list-checkpoints', id, '--best', '1', '--json'),
    );
    expect(best.map((c) => c.uuid)).toEqual([seeded.uuids[1]]);
    const table = await det('experiment', 'list-checkpoints', id);
    expect(table.stdout).toContain(seeded.uuids[2]);
  });
});

describe('det trial', () => {
  it('describes a trial with its checkpoints', async () => {
    const out = json<{ trial: { id: number }; checkpoints: { uuid: string }[] }>(
      await det('trial', 'describe', String(seeded.trial.trialId), '--json'),
    );
    expect(out.trial.id).toBe(seeded.trial.trialId);
    expect(out.checkpoints).toHaveLength(3);
  });

  it('prints logs (none yet)', async () => {
    const run = await det('trial', 'logs', String(seeded.trial.trialId));
    expect(run).toEqual({ code: 0, stdout: '', stderr: '' });
  });

  it('downloads the best, the latest and a named checkpoint', async () => {
    const trialId = String(seeded.trial.trialId);
    const best = await det('trial', 'download', trialId, '--best', '-o', 'best');
    expect(best.code).toBe(0);
    expect(best.stdout).toBe(`${join(cli.configDir, 'best')}\n`);
    expect(best.stderr).toMatch(/^Downloading 2 files .*\nDownloaded .* in .* s \(.*\/s\)\n$/);
    expect(await readFile(join(cli.configDir, 'best', 'model.safetensors'))).toEqual(
      safetensorsBytes(),
    );

    const latest = json<{ uuid: string; path: string; skipped: boolean }>(
      await det('t', 'download', trialId, '--latest', '--mode', 'master', '-q', '--json'),
    );
    expect(latest.uuid).toBe(seeded.uuids[2]);
    expect(latest.path).toBe(join(cli.configDir, 'checkpoints', seeded.uuids[2]!));
    expect((await readdir(latest.path)).sort()).toEqual(['metadata.json', 'model.safetensors']);

    const byUuid = await det('trial', 'download', trialId, '--uuid', seeded.uuids[0]!, '-q');
    expect(byUuid).toMatchObject({ code: 0, stderr: '' });

    const ranked = json<{ uuid: string }>(
      await det(
        'trial',
        'download',
        trialId,
        '--best',
        '--sort-by',
        'validation_loss',
        '--smaller-is-better',
        'false',
        '-q',
        '--json',
      ),
    );
    expect(ranked.uuid).toBe(seeded.uuids[0]);
  });
});

describe('det checkpoint', () => {
  it('describes a checkpoint', async () => {
    const out = json<{ uuid: string; state: string }>(
      await det('checkpoint', 'describe', seeded.uuids[1]!, '--json'),
    );
    expect(out).toMatchObject({ uuid: seeded.uuids[1], state: 'COMPLETED' });
    const table = await det('c', 'describe', seeded.uuids[1]!);
    expect(table.stdout).toMatch(/model\.safetensors\s*│\s*88 B/);
  });

  it('downloads a checkpoint into -o DIR', async () => {
    const run = await det('checkpoint', 'download', seeded.uuids[1]!, '-o', 'dl', '-q');
    expect(run).toEqual({ code: 0, stdout: `${join(cli.configDir, 'dl')}\n`, stderr: '' });
  });

  it('loads a checkpoint and prints its tensors', async () => {
    const run = await det('checkpoint', 'load', seeded.uuids[1]!, '-o', 'loaded', '-q');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^kind: safetensors\n/);
    expect(run.stdout).toMatch(/│ w\s+│ float32 │ \[2, 2\] │/);
    const out = json<{ kind: string; tensors: unknown[] }>(
      await det('checkpoint', 'load', seeded.uuids[1]!, '-o', 'loaded', '-q', '--json'),
    );
    expect(out).toMatchObject({ kind: 'safetensors', tensorCount: 1 });
    expect(out.tensors).toEqual([{ name: 'w', dtype: 'float32', shape: [2, 2] }]);
  });

  it('removes files by glob, then deletes the checkpoint', async () => {
    const uuid = seeded.uuids[0]!;
    expect((await det('checkpoint', 'rm', uuid, '--glob', 'metadata.json')).code).toBe(0);
    const partial = json<{ state: string; resources: Record<string, number> }>(
      await det('checkpoint', 'describe', uuid, '--json'),
    );
    expect(partial.state).toBe('PARTIALLY_DELETED');
    expect(Object.keys(partial.resources)).toEqual(['model.safetensors']);

    expect((await det('checkpoint', 'delete', uuid)).code).toBe(0);
    const deleted = json<{ state: string }>(await det('checkpoint', 'describe', uuid, '--json'));
    expect(deleted.state).toBe('DELETED');
    expect(existsSync(join(cli.master.storageDir, uuid, 'model.safetensors'))).toBe(false);
  });

  it('fails with one line when the checkpoint does not exist', async () => {
    const run = await det('checkpoint', 'describe', '00000000-0000-4000-8000-00000000dead');
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(/^det: .*404.*\n$/);
  });
});

describe('usage errors', () => {
  const cases: [string, string[], RegExp][] = [
    ['an unknown command', ['frobnicate'], /^det: unknown command 'frobnicate'/],
    ['an unknown option', ['experiment', 'list', '--nope'], /^det: unknown option '--nope'/],
    ['a non-numeric ID', ['experiment', 'describe', 'abc'], /positive integer, got 'abc'/],
    ['no selection flag', ['trial', 'download', '1'], /^det: give exactly one of --best/],
    ['two selection flags', ['trial', 'download', '1', '--best', '--latest'], /exactly one/],
    [
      '--sort-by without --smaller-is-better',
      ['trial', 'download', '1', '--best', '--sort-by', 'x'],
      /together/,
    ],
    [
      'a bad --mode',
      ['checkpoint', 'download', 'u', '--mode', 'fast'],
      /argument 'fast' is invalid/,
    ],
    [
      'a bad boolean',
      ['trial', 'download', '1', '--best', '--sort-by', 'x', '--smaller-is-better', 'yes'],
      /true or false/,
    ],
    ['rm without --glob', ['checkpoint', 'rm', 'u'], /^det: name the files to remove with --glob/],
    ['a missing argument', ['checkpoint', 'describe'], /^det: missing required argument 'uuid'/],
  ];
  for (const [name, argv, message] of cases) {
    it(`exits 2 with one line for ${name}`, async () => {
      const run = await det(...argv);
      expect(run.code).toBe(2);
      expect(run.stdout).toBe('');
      expect(run.stderr).toMatch(message);
      expect(run.stderr.endsWith('\n')).toBe(true);
      expect(run.stderr.trimEnd().split('\n')).toHaveLength(1);
    });
  }

  it('prints the stack only with --debug', async () => {
    const run = await cli.run(['--debug', 'checkpoint', 'describe', 'nope']);
    expect(run.code).toBe(1);
    expect(run.stderr.split('\n').length).toBeGreaterThan(3);
    expect(run.stderr).toMatch(/\n\s+at /);
  });

  it('prints help on stdout and exits 0', async () => {
    const run = await det('--help');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^Usage: det /);
    expect(run.stdout).toContain('checkpoint');
  });
});
