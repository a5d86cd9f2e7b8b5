// The packages are versioned together with changesets (.changeset/config.json, `fixed`): one
// version across the workspace, internal dependencies pinned to it, and a release plan from the
// pending changesets that moves every package to the same next version.
import { execFile } from 'node:child_process';
import { cp, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

import { describe, expect, it, onTestFinished } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
const run = promisify(execFile);

interface Manifest {
  name: string;
  version: string;
  private?: boolean;
  dependencies?: Record<string, string>;
}

async function manifests(): Promise<Manifest[]> {
  const dirs = await readdir(join(ROOT, 'packages'));
  return Promise.all(
    dirs.map(
      async (d) =>
        JSON.parse(await readFile(join(ROOT, 'packages', d, 'package.json'), 'utf8')) as Manifest,
    ),
  );
}

describe('versions', () => {
  it('are one across the workspace, and internal dependencies pin it', async () => {
    const all = await manifests();
    const versions = new Set(all.map((m) => m.version));
    expect(versions.size, [...versions].join(', ')).toBe(1);
    const [version] = versions;
    for (const m of all) {
      for (const [dep, range] of Object.entries(m.dependencies ?? {})) {
        if (dep.startsWith('@determined-ts/')) {
          expect(`${m.name} → ${dep}@${range}`).toBe(`${m.name} → ${dep}@${version ?? ''}`);
        }
      }
    }
  });

  it('move together: a changeset for the CLI alone bumps every package to one next version', async () => {
    // A scratch repository with the workspace's manifests and changesets config, and one
    // changeset that names the CLI alone, which no other package depends on.
    const dir = await mkdtemp(join(tmpdir(), 'det-changesets-'));
    onTestFinished(() => rm(dir, { recursive: true, force: true }));
    const all = await manifests();
    await cp(join(ROOT, 'package.json'), join(dir, 'package.json'));
    await cp(join(ROOT, '.changeset', 'config.json'), join(dir, '.changeset', 'config.json'));
    for (const d of await readdir(join(ROOT, 'packages'))) {
      await cp(join(ROOT, 'packages', d, 'package.json'), join(dir, 'packages', d, 'package.json'));
    }
    const git = (...args: string[]) => run('git', args, { cwd: dir });
    await git('init', '-q', '-b', 'main');
    await git('add', '-A');
    await git('-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-qm', 'manifests');
    await writeFile(
      join(dir, '.changeset', 'one.md'),
      "---\n'@determined-ts/cli': patch\n---\n\nA fix in det.\n",
    );
    const out = join(dir, 'status.json');
    await run(join(ROOT, 'node_modules', '.bin', 'changeset'), ['status', '--output', out], {
      cwd: dir,
    });
    const plan = JSON.parse(await readFile(out, 'utf8')) as {
      releases: { name: string; oldVersion: string; newVersion: string }[];
    };
    expect(plan.releases.map((r) => r.name).sort()).toEqual(all.map((m) => m.name).sort());
    const [version = ''] = all.map((m) => m.version);
    const [major, minor, patch] = version.split('.').map(Number);
    const next = `${major}.${minor}.${(patch ?? 0) + 1}`;
    expect(new Set(plan.releases.map((r) => `${r.oldVersion} → ${r.newVersion}`))).toEqual(
      new Set([`${version} → ${next}`]),
    );
  });
});
