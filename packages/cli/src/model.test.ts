import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { FetchLike } from '@determined-ts/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  failed,
  ok,
  runDet,
  safetensorsBytes,
  seedExperiment,
  startInProcessMaster,
  tableRows,
  terminal,
  useCliMaster,
} from '../test/helpers.js';
import type { DetRun, MasterTarget, SeededExperiment } from '../test/helpers.js';

const cli = useCliMaster('model');
const { det } = cli;
let seeded: SeededExperiment;

beforeAll(async () => {
  seeded = await seedExperiment(cli.master);
});

function json<T>(run: DetRun): T {
  return JSON.parse(ok(run)) as T;
}

/** The `Key: value` lines printFields writes, up to the first blank line. */
function fields(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n\n')[0]?.split('\n') ?? []) {
    const match = /^([^:]+):\s+(.*)$/.exec(line);
    if (match !== null) {
      out[match[1] as string] = (match[2] as string).trim();
    }
  }
  return out;
}

interface ModelJson {
  id: number;
  name: string;
  description: string;
  workspaceId: number;
  numVersions: number;
  username: string;
  archived: boolean;
  creationTime: string;
  lastUpdatedTime: string;
}

interface VersionJson {
  version: number;
  name: string;
  comment: string;
  aliases: string[];
  model: ModelJson;
  checkpoint: { uuid: string; metadata: { steps_completed: number } };
}

describe('det model', () => {
  let modelId = 0;

  it('creates a model and prints it', async () => {
    const out = ok(await det('model', 'create', 'resnet', '--description', 'image classifier'));
    const shown = fields(out);
    expect(shown).toMatchObject({
      Name: 'resnet',
      Description: 'image classifier',
      'Workspace ID': '1',
      Versions: '0',
      Archived: 'false',
      'Created By': 'determined',
      Metadata: '{}',
    });
    modelId = Number(shown.ID);
    expect(modelId).toBeGreaterThan(0);
    expect(shown['Creation Time']).toMatch(/^\d{4}-\d\d-\d\dT.*Z$/);

    const created = json<ModelJson>(
      await det('m', 'create', 'bert', '-w', 'Uncategorized', '--json'),
    );
    expect(created).toMatchObject({
      name: 'bert',
      description: '',
      workspaceId: 1,
      numVersions: 0,
      username: 'determined',
      archived: false,
    });
    expect(created.creationTime).toBe(created.lastUpdatedTime);
  });

  it('refuses a duplicate name and an unknown workspace with one line', async () => {
    failed(await det('model', 'create', 'resnet'), 1, /^det: .*409.*avoid names equal/);
    failed(await det('model', 'create', 'gpt', '-w', 'nowhere'), 1, /^det: .*404/);
  });

  it('lists models, sorted as asked', async () => {
    ok(await det('model', 'create', 'alexnet'));
    const byUpdate = json<ModelJson[]>(await det('model', 'list', '--json'));
    expect(byUpdate.map((m) => m.name)).toEqual(['resnet', 'bert', 'alexnet']);
    const byName = json<ModelJson[]>(
      await det('model', 'ls', '--sort-by', 'name', '--order-by', 'desc', '--json'),
    );
    expect(byName.map((m) => m.name)).toEqual(['resnet', 'bert', 'alexnet']);
    const asc = json<ModelJson[]>(await det('model', 'ls', '--sort-by', 'name', '--json'));
    expect(asc.map((m) => m.name)).toEqual(['alexnet', 'bert', 'resnet']);
    const inWorkspace = json<ModelJson[]>(
      await det('model', 'list', '-w', 'Uncategorized', '--json'),
    );
    expect(inWorkspace).toHaveLength(3);

    const table = tableRows(ok(await det('model')));
    expect(table.map((r) => r.Name)).toEqual(['resnet', 'bert', 'alexnet']);
    expect(table[0]).toMatchObject({
      ID: String(modelId),
      'Workspace ID': '1',
      Versions: '0',
      Metadata: '{}',
    });
  });

  it('registers checkpoints as versions 1, 2 and 3', async () => {
    const out = ok(await det('model', 'register-version', 'resnet', seeded.uuids[0]!));
    expect(fields(out)).toMatchObject({ ID: String(modelId), Name: 'resnet', Versions: '1' });
    expect(tableRows(out)).toEqual([
      {
        'Version #': '1',
        'Trial ID': String(seeded.trial.trialId),
        'Batch #': '100',
        'Checkpoint UUID': seeded.uuids[0],
        'Validation Metrics': '{"validation_loss":0.5}',
        Metadata: '{"steps_completed":100}',
        Aliases: '',
      },
    ]);

    const second = json<VersionJson>(
      await det(
        'model',
        'register-version',
        'resnet',
        seeded.uuids[1]!,
        '--name',
        'best',
        '--comment',
        'lowest loss',
        '--json',
      ),
    );
    expect(second).toMatchObject({
      version: 2,
      name: 'best',
      comment: 'lowest loss',
      aliases: [],
      model: { name: 'resnet', numVersions: 2 },
      checkpoint: { uuid: seeded.uuids[1], metadata: { steps_completed: 200 } },
    });
    ok(await det('model', 'register-version', String(modelId), seeded.uuids[2]!));

    failed(
      await det('model', 'register-version', 'resnet', '00000000-0000-4000-8000-00000000dead'),
      1,
      /^det: .*404.*checkpoint '00000000-0000-4000-8000-00000000dead' not found/,
    );
  });

  it('describes a model with its latest version, or the one asked for', async () => {
    const latest = ok(await det('model', 'describe', 'resnet'));
    expect(fields(latest)).toMatchObject({ Name: 'resnet', Versions: '3' });
    expect(tableRows(latest).map((r) => r['Version #'])).toEqual(['3']);

    const second = ok(await det('model', 'describe', 'resnet', '--version', '2'));
    expect(tableRows(second)).toEqual([
      expect.objectContaining({
        'Version #': '2',
        'Batch #': '200',
        'Checkpoint UUID': seeded.uuids[1],
      }),
    ]);

    const described = json<{ model: ModelJson; version: VersionJson | null }>(
      await det('model', 'describe', 'resnet', '--version', '1', '--json'),
    );
    expect(described.model).toMatchObject({ id: modelId, name: 'resnet', numVersions: 3 });
    expect(described.version).toMatchObject({ version: 1, checkpoint: { uuid: seeded.uuids[0] } });

    // A model without versions: just the model, and `version: null` in JSON.
    const bare = ok(await det('model', 'describe', 'bert'));
    expect(fields(bare)).toMatchObject({ Name: 'bert', Versions: '0' });
    expect(bare).not.toContain('Version #');
    expect(json<{ version: unknown }>(await det('model', 'describe', 'bert', '--json'))).toEqual(
      expect.objectContaining({ version: null }),
    );

    failed(await det('model', 'describe', 'resnet', '--version', '9'), 1, /^det: .*404/);
    failed(await det('model', 'describe', 'nope'), 1, /^det: .*404.*model "nope" not found/);
  });

  it('sets, moves, lists and removes aliases, with their history', async () => {
    expect(ok(await det('model', 'alias', 'set', 'resnet', 'production', '1'))).toBe(
      "Alias 'production' of model 'resnet' points at version 1.\n",
    );
    const moved = json<{ alias: string; version: number; username: string }>(
      await det(
        'model',
        'alias',
        'set',
        'resnet',
        'production',
        '2',
        '--expected-version',
        '1',
        '--json',
      ),
    );
    expect(moved).toMatchObject({ alias: 'production', version: 2, username: 'determined' });
    ok(await det('model', 'alias', 'set', 'resnet', 'staging', '3', '--expected-version', '0'));
    ok(await det('model', 'alias', 'set', 'resnet', 'canary', '3'));

    // A stale compare-and-set changes nothing.
    failed(
      await det('model', 'alias', 'set', 'resnet', 'production', '3', '--expected-version', '1'),
      1,
      /^det: .*400/,
    );

    const listed = tableRows(ok(await det('model', 'alias', 'list', 'resnet')));
    expect(listed.map((r) => [r.Alias, r.Version, r['Updated By']])).toEqual([
      ['canary', '3', 'determined'],
      ['production', '2', 'determined'],
      ['staging', '3', 'determined'],
    ]);

    expect(ok(await det('model', 'alias', 'rm', 'resnet', 'canary'))).toBe(
      "Removed alias 'canary' of model 'resnet'.\n",
    );
    failed(await det('model', 'alias', 'rm', 'resnet', 'canary'), 1, /^det: .*404/);

    const aliases = json<{ alias: string; version: number }[]>(
      await det('model', 'alias', 'list', 'resnet', '--json'),
    );
    expect(aliases.map((a) => [a.alias, a.version])).toEqual([
      ['production', 2],
      ['staging', 3],
    ]);

    const history = json<{ alias: string; fromVersion: number | null; toVersion: number | null }[]>(
      await det('model', 'alias', 'history', 'resnet', '--json'),
    );
    expect(history.map((e) => [e.alias, e.fromVersion, e.toVersion])).toEqual([
      ['canary', 3, null],
      ['canary', null, 3],
      ['staging', null, 3],
      ['production', 1, 2],
      ['production', null, 1],
    ]);
    const production = tableRows(
      ok(await det('model', 'alias', 'history', 'resnet', '--alias', 'production')),
    );
    expect(production.map((r) => [r.Alias, r.From, r.To, r.User])).toEqual([
      ['production', '1', '2', 'determined'],
      ['production', '-', '1', 'determined'],
    ]);
  });

  it('lists versions newest first, with their aliases', async () => {
    const out = ok(await det('model', 'list-versions', 'resnet'));
    expect(fields(out)).toMatchObject({ Name: 'resnet', Versions: '3' });
    expect(
      tableRows(out).map((r) => [r['Version #'], r['Batch #'], r['Checkpoint UUID'], r.Aliases]),
    ).toEqual([
      ['3', '300', seeded.uuids[2], 'staging'],
      ['2', '200', seeded.uuids[1], 'production'],
      ['1', '100', seeded.uuids[0], ''],
    ]);
    const versions = json<VersionJson[]>(await det('model', 'list-versions', 'resnet', '--json'));
    expect(versions.map((v) => [v.version, v.aliases])).toEqual([
      [3, ['staging']],
      [2, ['production']],
      [1, []],
    ]);
    // A version table reads the version an alias names, too.
    const byAlias = ok(await det('model', 'describe', 'resnet', '--version', 'production'));
    expect(tableRows(byAlias)[0]).toMatchObject({ 'Version #': '2', Aliases: 'production' });
  });

  it('downloads the checkpoint of a version by number, by alias and the latest', async () => {
    const byNumber = await det('model', 'download', 'resnet:1', '-o', 'v1');
    expect(byNumber.code, byNumber.stderr).toBe(0);
    expect(byNumber.stdout).toBe(`${join(cli.configDir, 'v1')}\n`);
    expect(byNumber.stderr).toMatch(/^Downloading 2 files .*\nDownloaded .* in .* s \(.*\/s\)\n$/);
    expect(await readFile(join(cli.configDir, 'v1', 'model.safetensors'))).toEqual(
      safetensorsBytes(),
    );
    expect(JSON.parse(await readFile(join(cli.configDir, 'v1', 'metadata.json'), 'utf8'))).toEqual({
      steps_completed: 100,
    });

    const byAlias = json<{ uuid: string; path: string; skipped: boolean }>(
      await det('model', 'download', 'resnet@production', '--mode', 'master', '-q', '--json'),
    );
    expect(byAlias).toMatchObject({ uuid: seeded.uuids[1], skipped: false });
    expect(byAlias.path).toBe(join(cli.configDir, 'checkpoints', seeded.uuids[1]!));
    expect(JSON.parse(await readFile(join(byAlias.path, 'metadata.json'), 'utf8'))).toEqual({
      steps_completed: 200,
    });
    expect(await readFile(join(byAlias.path, 'model.safetensors'))).toEqual(safetensorsBytes());

    const latest = await det(
      'model',
      'download',
      'resnet',
      '-o',
      'latest',
      '--mode',
      'direct',
      '-q',
    );
    expect(latest).toEqual({ code: 0, stdout: `${join(cli.configDir, 'latest')}\n`, stderr: '' });
    expect((await readdir(join(cli.configDir, 'latest'))).sort()).toEqual([
      'metadata.json',
      'model.safetensors',
    ]);
    expect(
      JSON.parse(await readFile(join(cli.configDir, 'latest', 'metadata.json'), 'utf8')),
    ).toEqual({
      steps_completed: 300,
    });
    const atLatest = json<{ uuid: string }>(
      await det('model', 'download', 'resnet@latest', '-o', 'latest', '-q', '--json'),
    );
    expect(atLatest.uuid).toBe(seeded.uuids[2]);

    failed(await det('model', 'download', 'resnet:7', '-q'), 1, /^det: .*404/);
    failed(await det('model', 'download', 'resnet@nobody', '-q'), 1, /^det: .*404.*nobody/);
    failed(await det('model', 'download', 'bert', '-q'), 1, /^det: model 'bert' has no versions/);
  });

  it('moves a model to a workspace', async () => {
    expect(ok(await det('model', 'move', 'bert', '-w', 'Uncategorized'))).toBe(
      "Moved model 'bert' to workspace 'Uncategorized'.\n",
    );
    failed(await det('model', 'move', 'bert', '-w', 'elsewhere'), 1, /^det: .*404/);
  });

  it('deletes a model only when confirmed', async () => {
    failed(
      await det('model', 'delete', 'alexnet'),
      2,
      /^det: pass --yes to delete model 'alexnet' and its 0 version\(s\) \(stdin is not a terminal\)$/,
    );

    const no = await cli.run(['model', 'delete', 'alexnet'], {
      stdin: terminal('n\n'),
    });
    expect(no.code).toBe(1);
    expect(no.stdout).toBe('');
    expect(no.stderr).toContain("Delete model 'alexnet' and its 0 version(s)? [y/N] ");
    expect(no.stderr).toMatch(/Aborted\.\n$/);
    ok(await det('model', 'describe', 'alexnet'));

    const yes = await cli.run(['model', 'delete', 'alexnet'], {
      stdin: terminal('y\n'),
    });
    expect(yes.code).toBe(0);
    expect(yes.stdout).toBe("Deleted model 'alexnet'.\n");

    expect(ok(await det('model', 'delete', 'bert', '--yes'))).toBe("Deleted model 'bert'.\n");
    failed(await det('model', 'describe', 'bert'), 1, /^det: .*404/);
    const names = json<ModelJson[]>(await det('model', 'list', '--json')).map((m) => m.name);
    expect(names).toEqual(['resnet']);
  });

  describe('usage errors', () => {
    const cases: [string, string[], RegExp][] = [
      ['a missing name', ['model', 'create'], /missing required argument 'name'/],
      ['a missing uuid', ['model', 'register-version', 'resnet'], /missing required argument/],
      ['a missing version', ['model', 'alias', 'set', 'resnet', 'prod'], /missing required/],
      ['move without -w', ['model', 'move', 'resnet'], /required option '-w/],
      ['an unknown flag', ['model', 'list', '--colour'], /unknown option '--colour'/],
      ['a bad --sort-by', ['model', 'list', '--sort-by', 'size'], /argument 'size' is invalid/],
      ['a bad --order-by', ['model', 'ls', '--order-by', 'up'], /argument 'up' is invalid/],
      ['NAME:abc', ['model', 'download', 'resnet:abc'], /expected a version number, got 'abc'/],
      ['NAME:0', ['model', 'download', 'resnet:0'], /expected a version number, got '0'/],
      ['NAME:', ['model', 'download', 'resnet:'], /expected a version number, got ''/],
      ['NAME@Bad', ['model', 'download', 'resnet@Prod'], /invalid alias 'Prod'/],
      ['a bare :1', ['model', 'download', ':1'], /expected NAME\[:VERSION\|@ALIAS\]/],
      ['a huge version', ['model', 'download', 'resnet:2147483648'], /version number/],
      ['a bad --mode', ['model', 'download', 'resnet', '--mode', 'fast'], /'fast' is invalid/],
      ['a bad --version', ['model', 'describe', 'resnet', '--version', 'Prod!'], /'Prod!'/],
      ['a bad alias', ['model', 'alias', 'set', 'resnet', '9lives', '1'], /invalid alias/],
      ['the reserved alias', ['model', 'alias', 'set', 'resnet', 'latest', '1'], /reserved/],
      ['a bad VERSION', ['model', 'alias', 'set', 'resnet', 'prod', 'two'], /'two'/],
      [
        'a bad --expected-version',
        ['model', 'alias', 'set', 'resnet', 'prod', '1', '--expected-version', '-1'],
        /'-1'/,
      ],
      ['rm latest', ['model', 'alias', 'rm', 'resnet', 'latest'], /reserved/],
      ['a bad --alias', ['model', 'alias', 'history', 'resnet', '--alias', 'A'], /invalid alias/],
    ];
    for (const [name, argv, message] of cases) {
      it(`exits 2 with one line for ${name}`, async () => {
        failed(await det(...argv), 2, message);
      });
    }
  });
});

describe('det model against a master without aliases', () => {
  let plain: MasterTarget;
  let seededPlain: SeededExperiment;
  let dir: string;
  const aliasRequests: string[] = [];

  beforeAll(async () => {
    plain = await startInProcessMaster('sqlite');
    seededPlain = await seedExperiment(plain);
    dir = await mkdtemp(join(tmpdir(), 'det-cli-model-plain-'));
    ok(await detPlain('user', 'login', 'determined'));
    ok(await detPlain('model', 'create', 'resnet'));
    ok(await detPlain('model', 'register-version', 'resnet', seededPlain.uuids[1]!));
  });

  afterAll(async () => {
    await plain.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** Determined's master: `GET /api/v1/master` without `determinedTs.modelAliases`. */
  const determinedLike: FetchLike = async (input, init) => {
    const url = new URL(input);
    if (/\/alias/.test(url.pathname) || /\/versions\/[a-z]/.test(url.pathname)) {
      aliasRequests.push(url.pathname);
    }
    const res = await plain.fetch(input, init);
    if (url.pathname !== '/api/v1/master') {
      return res;
    }
    const body = (await res.json()) as { determinedTs?: Record<string, unknown> };
    delete body.determinedTs?.modelAliases;
    const headers = new Headers(res.headers);
    headers.delete('content-length');
    return new Response(JSON.stringify(body), { status: res.status, headers });
  };

  const detPlain = (...argv: string[]): Promise<DetRun> =>
    runDet({ baseUrl: plain.baseUrl, fetch: determinedLike }, dir, argv);

  const unsupported = /^det: http:\/\/master\.test(:80)? cannot .*: it has no model aliases/;

  it('refuses every alias command with the one-line reason, sending nothing', async () => {
    for (const argv of [
      ['model', 'alias', 'set', 'resnet', 'production', '1'],
      ['model', 'alias', 'rm', 'resnet', 'production'],
      ['model', 'alias', 'list', 'resnet'],
      ['model', 'alias', 'history', 'resnet', '--json'],
      ['model', 'download', 'resnet@production', '-q'],
      ['model', 'describe', 'resnet', '--version', 'production'],
    ]) {
      failed(await detPlain(...argv), 1, unsupported);
    }
    expect(aliasRequests).toEqual([]);
  });

  it('still describes and downloads by number and latest', async () => {
    expect(tableRows(ok(await detPlain('model', 'describe', 'resnet')))[0]).toMatchObject({
      'Version #': '1',
      'Checkpoint UUID': seededPlain.uuids[1],
    });
    const byNumber = json<{ uuid: string; path: string }>(
      await detPlain('model', 'download', 'resnet:1', '-q', '--json'),
    );
    expect(byNumber.uuid).toBe(seededPlain.uuids[1]);
    expect(await readFile(join(byNumber.path, 'model.safetensors'))).toEqual(safetensorsBytes());
    const latest = json<{ uuid: string }>(
      await detPlain('model', 'download', 'resnet@latest', '-o', 'l', '-q', '--json'),
    );
    expect(latest.uuid).toBe(seededPlain.uuids[1]);
  });
});
