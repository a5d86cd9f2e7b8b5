/**
 * Checkpoint download throughput (issue 3), against `cp -r` of the same files in the same run.
 *
 * A 1 GiB checkpoint of 64 random files is generated in a temp dir, in `directory` storage of a
 * real master (startMaster on SQLite, in a process of its own, over loopback). It is reported
 * three times, the files of the second and third hard links to the first's: with CRC32Cs only
 * (`crc32c`, as our Core API reports checkpoints now), with sha256 digests (as Determined's and
 * our earlier reports do), and with neither (as older or foreign ones are). Each round then
 * runs, in order, every case once; rounds repeat DET_BENCH_REPEAT times (default 5, at least
 * 3), so the cases are interleaved and share the machine's noise. Medians of all runs, none
 * dropped.
 *
 *   cp -r                 anchor: coreutils, in-kernel copy_file_range
 *   cp -r + sha256        anchor for verified copies: cp -r, then the sha256 of every copy by
 *                         `openssl dgst`, two processes at once (xargs -P2), checked against
 *                         the digests: the best verified copy at hand. (coreutils sha256sum
 *                         is not used: without SHA-NI it hashes at a fifth of openssl's speed.)
 *   direct                SDK, direct mode, no digests: kernel copies (copyFile)
 *   direct+crc32c         SDK, direct mode, CRC32Cs: kernel copies, each file then read back
 *                         and checked (by worker threads when there is ≥ 1 GiB to check)
 *   master+crc32c         SDK, master mode, CRC32Cs: checked on the way to disk
 *   direct+sha256         SDK, direct mode, digests: kernel copies, each file then read back
 *                         and hashed by worker threads while the next ones copy
 *   master+sha256         SDK, master mode (GET /checkpoints/{uuid}: a tar, read on the SDK's
 *                         own socket), files read back and hashed by workers once written
 *   master                SDK, master mode, no digests
 *   master+sha256 (fetch) context: the same through an injected global fetch (web streams)
 *   curl → /dev/null      context: what the master serves at all (archive read and dropped)
 *   dd bs=4M              context: per file, the cost of moving bytes through user space
 *
 * Targets, with verification (CRC32C): direct ≥ 0.8 × cp -r, master-mode ≥ 0.6 × cp -r
 * (throughput). The other cases are context. Exits 1 on a miss unless DET_BENCH_NO_FAIL=1.
 *
 *   node --import tsx --conditions=source bench/sdk-download.ts
 *   DET_BENCH_QUICK=1 …   64 files of 1 MiB, 2 rounds: checks that every case runs
 */
import { execFileSync, fork } from 'node:child_process';
import { createHash, randomFillSync, randomUUID } from 'node:crypto';
import { closeSync, openSync, writeSync } from 'node:fs';
import { link, mkdir, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { getCheckpoint } from '../packages/sdk/src/api/checkpoints.js';
import { Checkpoint } from '../packages/sdk/src/checkpoint.js';
import { createClient } from '../packages/sdk/src/client.js';
import type { Client } from '../packages/sdk/src/client.js';
import { crc32c, crc32cHex } from '../packages/storage/src/checksum.js';
import { fmt, median, table, tempDir } from './lib.js';
import type { MasterProcessMessage } from './master-process.js';

const isQuick = process.env.DET_BENCH_QUICK === '1';
const FILES = 64;
const FILE_BYTES = (isQuick ? 1 : 16) * 1024 * 1024;
const TOTAL_BYTES = FILES * FILE_BYTES;
const repeat = Math.max(
  isQuick ? 1 : 3,
  Number.parseInt(process.env.DET_BENCH_REPEAT ?? '', 10) || (isQuick ? 2 : 5),
);

interface ForkedMaster {
  url: string;
  cpuMicros(): Promise<number>;
  close(): Promise<void>;
}

async function forkMaster(dataDir: string): Promise<ForkedMaster> {
  const child = fork(fileURLToPath(new URL('./master-process.ts', import.meta.url)), [dataDir], {
    execArgv: ['--import', 'tsx', '--conditions=source'],
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const url = await new Promise<string>((resolve, reject) => {
    child.once('message', (msg: MasterProcessMessage) => {
      if ('url' in msg) {
        resolve(msg.url);
      }
    });
    void exited.then((code) => reject(new Error(`master process exited with ${code}`)));
  });
  return {
    url,
    cpuMicros: () =>
      new Promise<number>((resolve) => {
        child.once('message', (msg: MasterProcessMessage) => {
          if ('cpu' in msg) {
            resolve(msg.cpu.user + msg.cpu.system);
          }
        });
        child.send('cpu');
      }),
    close: async () => {
      child.send('close');
      await exited;
    },
  };
}

/**
 * Writes the 64 random files (incompressible, like weights) and returns their names and
 * CRC32Cs (8 hex digits, as reports carry them).
 */
function generate(dir: string): { names: string[]; crcs: Map<string, string> } {
  const names: string[] = [];
  const crcs = new Map<string, string>();
  const buf = Buffer.allocUnsafe(FILE_BYTES);
  for (let i = 0; i < FILES; i += 1) {
    randomFillSync(buf);
    const name = `shard-${String(i).padStart(2, '0')}.bin`;
    const fd = openSync(join(dir, name), 'w');
    writeSync(fd, buf);
    closeSync(fd);
    names.push(name);
    crcs.set(name, crc32cHex(crc32c(buf)));
  }
  return { names, crcs };
}

/** The sha256 of each file, by name. */
async function sha256s(dir: string, names: string[]): Promise<Map<string, string>> {
  const sums = new Map<string, string>();
  for (const name of names) {
    sums.set(
      name,
      createHash('sha256')
        .update(await readFile(join(dir, name)))
        .digest('hex'),
    );
  }
  return sums;
}

/**
 * Reports a checkpoint of `names` (already in storage under `uuid`), with the sha256 `digests`
 * and `crc32c`s given, and fetches it back.
 */
async function report(
  client: Client,
  taskId: string,
  uuid: string,
  names: string[],
  checksums: { digests?: Map<string, string>; crc32c?: Map<string, string> },
  steps: number,
): Promise<Checkpoint> {
  const { digests, crc32c: crcs } = checksums;
  const resources = Object.fromEntries(names.map((name) => [name, String(FILE_BYTES)]));
  await client.request('POST', '/api/v1/checkpoints', {
    body: {
      uuid,
      taskId,
      allocationId: null,
      reportTime: new Date().toISOString(),
      state: 'STATE_COMPLETED',
      resources,
      metadata: { steps_completed: steps },
      training: {},
      storageId: null,
      ...(digests === undefined ? {} : { digests: Object.fromEntries(digests) }),
      ...(crcs === undefined ? {} : { crc32c: Object.fromEntries(crcs) }),
    },
  });
  return new Checkpoint(await getCheckpoint(client, uuid), client);
}

/** Checks a downloaded copy: every file present with its size; bytes too when `full`. */
async function verify(dir: string, source: string, names: string[], full: boolean): Promise<void> {
  for (const name of names) {
    const s = await stat(join(dir, name));
    if (s.size !== FILE_BYTES) {
      throw new Error(`${dir}/${name}: ${s.size} bytes`);
    }
    if (full && !(await readFile(join(dir, name))).equals(await readFile(join(source, name)))) {
      throw new Error(`${dir}/${name} differs from the source`);
    }
  }
}

interface Run {
  seconds: number;
  clientCpuSeconds: number;
  masterCpuSeconds: number | undefined;
}

const root = await tempDir('det-bench-dl-');
const master = await forkMaster(join(root.path, 'master'));
let failed = false;
try {
  console.log(
    `machine: ${availableParallelism()} CPUs, ${cpus()[0]?.model ?? 'unknown CPU'}; node ${process.version}; load ${loadavg()
      .map((l) => fmt(l))
      .join(' ')}`,
  );
  const storage = join(root.path, 'storage');
  const uuidSha = randomUUID();
  const uuidPlain = randomUUID();
  const uuidCrc = randomUUID();
  const srcSha = join(storage, uuidSha);
  const srcPlain = join(storage, uuidPlain);
  const srcCrc = join(storage, uuidCrc);
  for (const dir of [srcSha, srcPlain, srcCrc]) {
    await mkdir(dir, { recursive: true });
  }
  console.log(`generating ${FILES} × ${FILE_BYTES / 2 ** 20} MiB in ${srcSha}`);
  const { names, crcs } = generate(srcSha);
  for (const name of names) {
    await link(join(srcSha, name), join(srcPlain, name));
    await link(join(srcSha, name), join(srcCrc, name));
  }
  const digests = await sha256s(srcSha, names);
  // `sha256sum`'s format, sorted by name, for the `cp -r + sha256` anchor to compare with.
  const sumsFile = join(root.path, 'sha256sums');
  await writeFile(sumsFile, names.map((n) => `${digests.get(n) ?? ''}  ${n}\n`).join(''));

  const anonymous = createClient({ baseUrl: master.url });
  const { token } = await anonymous.request<{ token: string }>('POST', '/api/v1/auth/login', {
    body: { username: 'determined', password: '' },
  });
  const client = anonymous.withToken(token);
  const { experiment } = await client.request<{ experiment: { id: number } }>(
    'POST',
    '/api/v1/experiments',
    {
      body: {
        config: JSON.stringify({
          name: 'bench-download',
          searcher: { name: 'single', metric: 'loss' },
          checkpoint_storage: { type: 'directory', container_path: storage },
        }),
        unmanaged: true,
      },
    },
  );
  const { trial } = await client.request<{ trial: { id: number; taskId: string } }>(
    'POST',
    '/api/v1/trials',
    { body: { experimentId: experiment.id, hparams: {}, unmanaged: true } },
  );
  await client.request('POST', `/api/v1/trials/${trial.id}/start`, {
    body: { trialId: trial.id, resume: true },
  });
  const withSha = await report(client, trial.taskId, uuidSha, names, { digests }, 1);
  // The same checkpoint through a client with an injected fetch, whose bodies the SDK then
  // reads through web streams (the in-process test path, and the SDK's transport before).
  const fetchClient = createClient({
    baseUrl: master.url,
    token,
    fetch: (input, init) => globalThis.fetch(input, init),
  });
  const withShaFetch = new Checkpoint(withSha, fetchClient);
  const plain = await report(client, trial.taskId, uuidPlain, names, {}, 2);
  const withCrc = await report(client, trial.taskId, uuidCrc, names, { crc32c: crcs }, 3);
  if (Object.keys(withCrc.crc32c).length !== names.length) {
    throw new Error(`the master kept ${Object.keys(withCrc.crc32c).length} CRC32Cs of ${FILES}`);
  }
  // `metadata.json` is written by the SDK (the files lack one); it is not part of the timing's
  // bytes but is part of its work, as it would be for a user.

  const out = join(root.path, 'out');
  await mkdir(out);
  const cases: { name: string; source: string; run: (dst: string) => Promise<void> }[] = [
    {
      name: 'cp -r',
      source: srcSha,
      run: (dst) => Promise.resolve(void execFileSync('cp', ['-r', srcSha, dst])),
    },
    {
      name: 'cp -r + sha256',
      source: srcSha,
      run: (dst) => {
        execFileSync('cp', ['-r', srcSha, dst]);
        // The sums are compared, as the SDK compares them, so a wrong copy fails here too.
        execFileSync(
          'sh',
          [
            '-c',
            'ls | xargs -P2 -n8 openssl dgst -sha256 -r | sed "s/ [*]/  /" | sort -k2 | diff -q - "$0"',
            sumsFile,
          ],
          {
            cwd: dst,
          },
        );
        return Promise.resolve();
      },
    },
    {
      name: 'direct',
      source: srcPlain,
      run: async (dst) => void (await plain.download(dst, { mode: 'direct' })),
    },
    {
      name: 'direct+crc32c',
      source: srcCrc,
      run: async (dst) => void (await withCrc.download(dst, { mode: 'direct' })),
    },
    {
      name: 'master+crc32c',
      source: srcCrc,
      run: async (dst) => void (await withCrc.download(dst, { mode: 'master' })),
    },
    {
      name: 'direct+sha256',
      source: srcSha,
      run: async (dst) => void (await withSha.download(dst, { mode: 'direct' })),
    },
    {
      name: 'master+sha256',
      source: srcSha,
      run: async (dst) => void (await withSha.download(dst, { mode: 'master' })),
    },
    {
      name: 'master',
      source: srcPlain,
      run: async (dst) => void (await plain.download(dst, { mode: 'master' })),
    },
    {
      name: 'master+sha256 (fetch)',
      source: srcSha,
      run: async (dst) => void (await withShaFetch.download(dst, { mode: 'master' })),
    },
    {
      // What the master can serve at all: the archive read by curl, thrown away.
      name: 'curl → /dev/null (context)',
      source: '',
      run: (dst) => {
        execFileSync('curl', [
          '-sf',
          '-o',
          '/dev/null',
          '-H',
          `authorization: Bearer ${token}`,
          `${master.url}/checkpoints/${uuidSha}`,
        ]);
        return mkdir(dst).then(() => undefined);
      },
    },
    {
      name: 'dd bs=4M (context)',
      source: srcSha,
      run: async (dst) => {
        await mkdir(dst);
        for (const name of names) {
          execFileSync('dd', [
            `if=${join(srcSha, name)}`,
            `of=${join(dst, name)}`,
            'bs=4M',
            'status=none',
          ]);
        }
      },
    },
  ];
  // DET_BENCH_CASES=direct,master+sha256 runs only those (and the cp -r anchor).
  const only = process.env.DET_BENCH_CASES?.split(',').map((n) => n.trim());
  if (only !== undefined) {
    cases.splice(
      0,
      cases.length,
      ...cases.filter((c) => c.name === 'cp -r' || only.includes(c.name)),
    );
  }
  const runs = new Map<string, Run[]>(cases.map((c) => [c.name, []]));
  // Cases run by other programs: the SDK's CPU column does not apply.
  const isExternal = (name: string): boolean =>
    name.startsWith('cp -r') || name.startsWith('dd') || name.startsWith('curl');
  for (let round = 1; round <= repeat; round += 1) {
    for (const c of cases) {
      const dst = join(out, `dst-${randomUUID()}`);
      // Each run starts from flushed page cache state: no earlier run's dirty pages are
      // written back on this run's time.
      execFileSync('sync');
      const cpu0 = process.cpuUsage();
      const master0 = await master.cpuMicros();
      const t0 = performance.now();
      await c.run(dst);
      const seconds = (performance.now() - t0) / 1000;
      const cpu = process.cpuUsage(cpu0);
      const masterCpu = (await master.cpuMicros()) - master0;
      if (c.source !== '') {
        await verify(dst, c.source, names, round === 1);
      }
      await rm(dst, { recursive: true, force: true });
      runs.get(c.name)?.push({
        seconds,
        clientCpuSeconds: (cpu.user + cpu.system) / 1e6,
        masterCpuSeconds:
          c.name.startsWith('master') || c.name.startsWith('curl') ? masterCpu / 1e6 : undefined,
      });
      console.log(`round ${round}/${repeat} ${c.name}: ${fmt(seconds, 3)} s`);
    }
  }
  // Nothing may be left next to the targets: no temp siblings.
  const leftovers = await readdir(out);
  if (leftovers.length > 0) {
    throw new Error(`left behind in ${out}: ${leftovers.join(', ')}`);
  }

  const mib = TOTAL_BYTES / 2 ** 20;
  const cpMedian = median(runs.get('cp -r')?.map((r) => r.seconds) ?? []);
  const rows = cases.map((c) => {
    const rs = runs.get(c.name) ?? [];
    const s = median(rs.map((r) => r.seconds));
    const masterCpu = rs.flatMap((r) =>
      r.masterCpuSeconds === undefined ? [] : [r.masterCpuSeconds],
    );
    return [
      c.name,
      fmt(s, 3),
      fmt(mib / s, 0),
      fmt(cpMedian / s),
      rs.map((r) => fmt(r.seconds, 2)).join(' '),
      isExternal(c.name) ? '-' : fmt(median(rs.map((r) => r.clientCpuSeconds))),
      masterCpu.length === 0 ? '-' : fmt(median(masterCpu)),
    ];
  });
  console.log(
    `\n${TOTAL_BYTES / 2 ** 20} MiB in ${FILES} files, ${repeat} interleaved rounds, medians\n`,
  );
  console.log(
    table(
      ['case', 'median s', 'MiB/s', '× cp -r', 'all runs (s)', 'SDK CPU s', 'master CPU s'],
      rows,
    ),
  );
  const ratio = (name: string): number =>
    cpMedian / median(runs.get(name)?.map((r) => r.seconds) ?? [NaN]);
  // Judged: downloads that verify, with the checksum our reports record (CRC32C). The rest is
  // context: no verification at all, or sha256 (Determined's and our earlier reports).
  const verdicts: [string, number, number | undefined][] = [
    ['direct+crc32c', ratio('direct+crc32c'), 0.8],
    ['master-mode+crc32c', ratio('master+crc32c'), 0.6],
    ['direct (no digests)', ratio('direct'), undefined],
    ['master-mode (no digests)', ratio('master'), undefined],
    ['direct+sha256', ratio('direct+sha256'), undefined],
    ['master-mode+sha256', ratio('master+sha256'), undefined],
  ];
  console.log('');
  for (const [name, r, target] of verdicts) {
    if (Number.isNaN(r)) {
      continue;
    }
    if (target === undefined) {
      console.log(`${name}: ${fmt(r)} × cp -r (context)`);
      continue;
    }
    const pass = r >= target;
    failed ||= !pass;
    console.log(`${name}: ${fmt(r)} × cp -r (target ≥ ${target}) ${pass ? 'PASS' : 'MISS'}`);
  }
  console.log(
    `load average at end ${loadavg()
      .map((l) => fmt(l))
      .join(' ')}`,
  );
} finally {
  await master.close();
  await root.cleanup();
}
process.exitCode = failed && process.env.DET_BENCH_NO_FAIL !== '1' ? 1 : 0;
