// An acknowledged checkpoint must survive a crash: its files and directories are synced to disk,
// and it is renamed into place, before the master hears of it.
import { spawn, spawnSync } from 'node:child_process';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import type { FetchLike } from '../client.js';
import {
  crc32cOf,
  inProcessMaster,
  loopbackMaster,
  makeTree,
  readTree,
} from '../../test/core-helpers.js';
import type { TestMaster } from '../../test/core-helpers.js';
import type { ReportCheckpointBody } from './api.js';
import { init } from './init.js';

const TREE = {
  'a.bin': new Uint8Array(3000).fill(7),
  'sub/b.txt': 'b',
  'sub/deeper/c.txt': 'c',
  'empty-dir': null,
};

describe('checkpoint upload durability', () => {
  let m: TestMaster;
  beforeEach(async () => {
    m = await inProcessMaster();
  });
  afterEach(async () => {
    await m.close();
  });

  it('reports a checkpoint only once it is complete, in place, with no staging left', async () => {
    const storage = join(m.dir, 'storage');
    const seen: string[] = [];
    // Looks at storage at the very moment the report arrives, before the master answers it.
    const inspecting: FetchLike = async (input, init) => {
      if (new URL(input).pathname === '/api/v1/checkpoints' && init?.method === 'POST') {
        const body = JSON.parse(
          typeof init.body === 'string' ? init.body : '',
        ) as ReportCheckpointBody;
        expect(await readdir(storage)).toEqual([body.uuid]);
        const stored = await readTree(join(storage, body.uuid));
        expect(Object.keys(stored).sort()).toEqual(Object.keys(body.resources).sort());
        for (const [rel, bytes] of Object.entries(stored)) {
          expect(String(bytes?.length ?? 0), rel).toBe(body.resources[rel]);
          if (bytes !== null) {
            expect(crc32cOf(bytes), rel).toBe(body.crc32c[rel]);
          }
        }
        expect(body.digests).toBeUndefined(); // sha256 only when asked for
        seen.push(body.uuid);
      }
      return m.fetch(input, init);
    };
    const core = await init({
      master: m.url,
      fetch: inspecting,
      env: m.env,
      shipOutput: false,
      closeOnExit: false,
      config: { searcher: { metric: 'loss' }, checkpoint_storage: storage },
    });
    await makeTree(join(m.dir, 'src'), TREE);
    const uploaded = await core.checkpoint.upload(join(m.dir, 'src'), { steps_completed: 1 });
    await core.close();
    expect(seen).toEqual([uploaded]);
  });
});

const hasStrace = spawnSync('strace', ['-f', '-qq', '-o', '/dev/null', 'true']).status === 0;
if (!hasStrace) {
  process.stderr.write('durable.test.ts: the fsync trace test is skipped: strace cannot run\n');
}

const INIT_MODULE = pathToFileURL(fileURLToPath(new URL('./init.ts', import.meta.url))).href;
const REPO_ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const UPLOAD_SCRIPT = `
import { init } from ${JSON.stringify(INIT_MODULE)};
const core = await init({
  master: process.env.TEST_MASTER,
  shipOutput: false,
  config: { searcher: { metric: 'loss' }, checkpoint_storage: process.env.TEST_STORAGE },
});
await core.run(async () => {
  const uuid = await core.checkpoint.upload(process.env.TEST_SRC, { steps_completed: 5 });
  process.stdout.write(uuid);
});
`;

describe.skipIf(!hasStrace)('checkpoint upload durability (traced)', () => {
  let m: TestMaster;
  beforeEach(async () => {
    m = await loopbackMaster();
  });
  afterEach(async () => {
    await m.close();
  });

  it('syncs every file, then the directories bottom-up, renames, then syncs the parent', async () => {
    // The storage path does not exist yet: the directories mkdir creates are synced too.
    const storage = join(m.dir, 'new', 'storage');
    const src = join(m.dir, 'src');
    await makeTree(src, TREE);
    const script = join(m.dir, 'upload.mts');
    await writeFile(script, UPLOAD_SCRIPT);
    const tracePath = join(m.dir, 'trace.txt');
    const { code, stdout, stderr } = await new Promise<{
      code: number | null;
      stdout: string;
      stderr: string;
    }>((resolve, reject) => {
      const child = spawn(
        'strace',
        [
          ...['-f', '-qq', '-y', '-e', 'trace=fsync,fdatasync,/^rename', '-o', tracePath],
          ...[process.execPath, '--conditions=source', '--import', 'tsx', script],
        ],
        {
          cwd: REPO_ROOT,
          env: {
            PATH: process.env.PATH,
            HOME: m.dir,
            ...m.env,
            TEST_MASTER: m.url,
            TEST_STORAGE: storage,
            TEST_SRC: src,
          },
        },
      );
      let out = '';
      let err = '';
      child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
      child.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
      child.once('error', reject);
      child.once('close', (exitCode) => resolve({ code: exitCode, stdout: out, stderr: err }));
    });
    expect([code, stderr]).toEqual([0, '']);
    const uuid = stdout.trim();
    const staging = join(storage, `.${uuid}.partial`);

    // The calls that touch storage, in order, as "fsync <path>" and "rename <from> <to>".
    const events = (await readFile(tracePath, 'utf8'))
      .split('\n')
      .map((line) => {
        // With -f, a call another thread interrupts ends on a later "<... resumed>" line; the
        // script exiting 0 says it succeeded.
        const sync = /\b(?:fsync|fdatasync)\(\d+<([^>]*)>/.exec(line);
        if (sync !== null) {
          return `fsync ${sync[1]}`;
        }
        const moved = /\brename\w*\((?:[^,]*, )?"([^"]*)", (?:[^,]*, )?"([^"]*)"/.exec(line);
        return moved === null ? '' : `rename ${moved[1]} ${moved[2]}`;
      })
      .filter((e) => e.includes(m.dir) && !e.includes('det-config'));
    const at = (event: string): number => {
      const i = events.indexOf(event);
      expect(i, `${event} in\n${events.join('\n')}`).toBeGreaterThanOrEqual(0);
      return i;
    };
    const files = ['a.bin', 'sub/b.txt', 'sub/deeper/c.txt', 'metadata.json'];
    const fileSyncs = files.map((f) => at(`fsync ${join(staging, f)}`));
    const dirSyncs = ['sub/deeper', 'sub', 'empty-dir'].map((d) => at(`fsync ${join(staging, d)}`));
    const rootSync = at(`fsync ${staging}`);
    const rename = at(`rename ${staging} ${join(storage, uuid)}`);
    const parentSyncs = [storage, join(m.dir, 'new'), m.dir].map((d) => at(`fsync ${d}`));

    expect(Math.max(...fileSyncs)).toBeLessThan(Math.min(...dirSyncs));
    // Deeper first: sub/deeper before sub.
    expect(dirSyncs[0]).toBeLessThan(dirSyncs[1] as number);
    expect(Math.max(...dirSyncs)).toBeLessThan(rootSync);
    expect(rootSync).toBeLessThan(rename);
    expect(rename).toBeLessThan(Math.min(...parentSyncs));
  }, 30_000);
});
