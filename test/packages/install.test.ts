// The packages as a user gets them: every publishable workspace package packed with `npm pack`
// (from the build `npm run build` made), installed from the tarballs alone into a new project,
// and used from there: `det-master` serves the API and the web UI, `det` talks to it, and the
// SDK imports in Node and type-checks with TypeScript. Run by `npm run test:packages`, after the
// build (see vitest.packages.config.ts).
import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
const PACKAGES = ['api', 'storage', 'loaders', 'sdk', 'master', 'cli'].map(
  (p) => `@determined-ts/${p}`,
);
const SAFETENSORS = join(ROOT, 'packages/loaders/test/fixtures/safetensors/all_dtypes.safetensors');
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');

const run = promisify(execFile);

let project: string;
let env: NodeJS.ProcessEnv;
let master: ChildProcess | undefined;
let masterUrl: string;

/** Runs `file` in the project, failing with its output when it exits other than 0. */
async function inProject(
  file: string,
  args: string[],
): Promise<{ stdout: string; stderr: string }> {
  return run(file, args, { cwd: project, env, maxBuffer: 16 * 2 ** 20 });
}

/** Spawns `det-master` from the project's bins and waits for the address it prints. */
async function startInstalledMaster(): Promise<string> {
  const child = spawn(
    join(project, 'node_modules', '.bin', 'det-master'),
    ['--port', '0', '--data-dir', join(project, 'data')],
    { cwd: project, env },
  );
  master = child;
  let output = '';
  return new Promise((done, fail) => {
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const found = /listening on (http:\/\/\S+)/.exec(output);
      if (found?.[1] !== undefined) {
        done(found[1]);
      }
    });
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('exit', (code) => fail(new Error(`det-master exited with ${code}: ${output}`)));
  });
}

beforeAll(async () => {
  project = await mkdtemp(join(tmpdir(), 'det-install-'));
  const packs = join(project, 'packs');
  await mkdir(packs);
  env = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    DET_DEBUG_CONFIG_PATH: join(project, 'det-config'),
    npm_config_update_notifier: 'false',
  };
  await run('npm', ['pack', ...PACKAGES.flatMap((p) => ['-w', p]), '--pack-destination', packs], {
    cwd: ROOT,
    env,
  });
  const tarballs = (await readdir(packs)).map((f) => join(packs, f));
  expect(tarballs).toHaveLength(PACKAGES.length);
  // As a project of our users' would say it: better-sqlite3 builds its addon, onnxruntime-node
  // downloads no CUDA libraries, core-js prints no advertisement.
  await writeFile(
    join(project, 'package.json'),
    JSON.stringify({
      name: 'det-install-check',
      private: true,
      type: 'module',
      allowScripts: { 'better-sqlite3': true, 'core-js': false, 'onnxruntime-node': false },
    }),
  );
  await inProject('npm', ['install', ...tarballs, '--prefer-offline', '--no-audit', '--no-fund']);
  masterUrl = await startInstalledMaster();
}, 900_000);

afterAll(async () => {
  if (master !== undefined && master.exitCode === null) {
    const exited = new Promise((done) => master?.once('exit', done));
    master.kill('SIGTERM');
    await exited;
  }
  await rm(project, { recursive: true, force: true });
});

describe('the packed packages, installed into a new project', () => {
  it('det-master serves the API and the web UI it carries, with no other package', async () => {
    const info = await fetch(`${masterUrl}/api/v1/master`);
    expect(info.status).toBe(200);
    expect(await info.json()).toHaveProperty('clusterId');
    let html = '';
    // A browser's page requests: the UI's own routes get index.html too.
    for (const path of ['/', '/experiments']) {
      const page = await fetch(`${masterUrl}${path}`, { headers: { accept: 'text/html' } });
      expect(page.status, path).toBe(200);
      expect(page.headers.get('content-type'), path).toMatch(/^text\/html/);
      html = await page.text();
      expect(html, path).toMatch(/<div id="root">/);
    }
    const script = /<script[^>]* src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1];
    expect(script).toBeDefined();
    const asset = await fetch(`${masterUrl}${script ?? ''}`);
    expect(asset.status).toBe(200);
    expect(asset.headers.get('content-type')).toMatch(/javascript/);
  });

  it('det logs in and lists experiments against it', async () => {
    const det = join('node_modules', '.bin', 'det');
    const login = await inProject(det, ['-m', masterUrl, 'user', 'login', 'determined']);
    expect(login.stdout).toContain(`Logged in to ${masterUrl} as determined`);
    const list = await inProject(det, ['-m', masterUrl, 'experiment', 'list', '--json']);
    expect(JSON.parse(list.stdout)).toEqual([]);
  });

  it('imports in Node: the SDK, the master and the CLI', async () => {
    const script = [
      "import { Determined, TrialReference, loadFromPath } from '@determined-ts/sdk';",
      "import { startMaster } from '@determined-ts/master';",
      "import { main } from '@determined-ts/cli';",
      'console.log([Determined, TrialReference, loadFromPath, startMaster, main].map((f) => typeof f).join());',
    ].join('\n');
    const { stdout } = await inProject(process.execPath, ['--input-type=module', '-e', script]);
    expect(stdout.trim()).toBe('function,function,function,function,function');
  });

  it('reads a checkpoint file with the loaders package alone, no master involved', async () => {
    const script = [
      "import { loadFromPath } from '@determined-ts/loaders';",
      `const loaded = await loadFromPath(${JSON.stringify(SAFETENSORS)});`,
      "if (loaded.kind !== 'safetensors') throw new Error(loaded.kind);",
      'console.log(JSON.stringify([...loaded.tensors].map(([n, t]) => [n, t.dtype, t.shape])));',
    ].join('\n');
    const { stdout } = await inProject(process.execPath, ['--input-type=module', '-e', script]);
    const tensors = JSON.parse(stdout) as [string, string, number[]][];
    expect(tensors).toContainEqual(['f32', 'float32', [2, 3]]);
    expect(tensors).toContainEqual(['bf16', 'bfloat16', [3]]);
    expect(tensors).toHaveLength(15);
  });

  it('type-checks with TypeScript: right uses compile, wrong ones are refused', async () => {
    const options = [
      '--strict',
      '--module',
      'nodenext',
      '--moduleResolution',
      'nodenext',
      '--target',
      'es2022',
      '--skipLibCheck',
      '--noEmit',
    ];
    await writeFile(
      join(project, 'right.ts'),
      [
        "import { Determined, TrialReference } from '@determined-ts/sdk';",
        "import type { Checkpoint } from '@determined-ts/sdk';",
        "import { startMaster } from '@determined-ts/master';",
        "const trial = new TrialReference(42, { master: 'http://127.0.0.1:8080' });",
        'export const best: Promise<Checkpoint> = trial.topCheckpoint();',
        "export const registry = new Determined({ master: 'http://127.0.0.1:8080' });",
        'export { startMaster };',
      ].join('\n'),
    );
    await inProject(process.execPath, [TSC, ...options, 'right.ts']);
    await writeFile(
      join(project, 'wrong.ts'),
      "import { TrialReference } from '@determined-ts/sdk';\nexport const t = new TrialReference('42');\n",
    );
    const refused = await inProject(process.execPath, [TSC, ...options, 'wrong.ts']).then(
      () => '',
      (err: unknown) => String((err as { stdout?: string }).stdout),
    );
    expect(refused).toMatch(/wrong\.ts\(2,\d+\): error TS2345: .*'string'.*'number'/);
  });
});
