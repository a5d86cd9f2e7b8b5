/**
 * The transfer engine's downloads from GCS and Azure (issue 12): the SDK's
 * `downloadCheckpoint(…, { mode: 'direct' })` of a checkpoint holding one 1 GiB random object
 * with its CRC32C recorded, against `curl -s -o dst URL` of the same object from the same
 * server in the same rounds, with the S3 benchmark's targets: speed ≥ 0.8 × curl's, ≤ 1.1 CPU-s
 * per GiB (the call, CRC32C checked), peak RSS ≤ 160 MiB; then once with a wrong CRC32C
 * recorded, which must fail.
 *
 *   gcs     the in-repo fake GCS (in memory) in a process of its own, STORAGE_EMULATOR_HOST
 *   azure   azurite 3.35 (in memory) in a process of its own, a connection string; curl reads
 *           with a blob SAS
 *
 * Measured as `s3-transfer.ts` measures (its harness): each client in a child process under
 * GNU time, ours timing the call alone (modules loaded), curl its whole process; a warm-up of
 * each case, then DET_BENCH_REPEAT interleaved rounds (default and least 5), medians; `sync` and
 * a fresh destination before each run, the output compared with the source after it. Exits 1
 * on a missed target unless DET_BENCH_NO_FAIL=1.
 *
 *   node --import tsx --conditions=source bench/cloud-transfer.ts
 *   DET_BENCH_QUICK=1         64 MiB object, 2 rounds
 *   DET_BENCH_STORES=gcs      a subset of gcs, azure
 */
import { randomUUID } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { join } from 'node:path';

import { runStore } from './cloud-cases.js';
import { STORES, startCloudServer } from './cloud-servers.js';
import type { BenchObject, StoreKind } from './cloud-servers.js';
import { fmt, table, tempDir } from './lib.js';
import { checkNothingLeft } from './s3-harness.js';
import type { Verdict } from './s3-harness.js';
import { GIB, MIB, writeRandomFile } from './s3-lib.js';

const isQuick = process.env.DET_BENCH_QUICK === '1';
const repeat = Math.max(
  isQuick ? 1 : 5,
  Number.parseInt(process.env.DET_BENCH_REPEAT ?? '', 10) || (isQuick ? 2 : 5),
);
const isStore = (name: string): name is StoreKind => (STORES as readonly string[]).includes(name);
const asked = process.env.DET_BENCH_STORES?.split(',').map((s) => s.trim());
const unknown = asked?.filter((s) => !isStore(s)) ?? [];
if (unknown.length > 0) {
  throw new Error(`unknown DET_BENCH_STORES ${unknown.join(', ')}: ${STORES.join(', ')}`);
}
const stores = STORES.filter((s) => asked === undefined || asked.includes(s));
const loads = (): string =>
  loadavg()
    .map((l) => fmt(l))
    .join(' ');

const verdicts: Verdict[] = [];
const root = await tempDir('det-bench-cloud-');
try {
  const size = isQuick ? 64 * MIB : GIB;
  console.log(
    `machine: ${availableParallelism()} CPUs, ${cpus()[0]?.model ?? 'unknown CPU'}; node ` +
      `${process.version}; load ${loads()}; ${isQuick ? 'QUICK' : 'full size'}, ${repeat} rounds`,
  );
  const out = join(root.path, 'out');
  await mkdir(out);
  const src = join(root.path, 'object.bin');
  console.log(`generating ${size / MIB} MiB of random bytes`);
  const object: BenchObject = { uuid: randomUUID(), src, size, crc: writeRandomFile(src, size) };
  for (const store of stores) {
    console.log(`\n== ${store}: starting the server and putting the object in it`);
    const server = await startCloudServer(store, object);
    try {
      await runStore({ server, object, root: root.path, out, isQuick, repeat, verdicts });
    } finally {
      await server.process.close();
    }
    await checkNothingLeft(out, []);
  }
} finally {
  await root.cleanup();
}

console.log('\n== Targets\n');
console.log(
  table(
    ['figure', 'measured', 'target', 'verdict'],
    verdicts.map((v) => [
      v.figure,
      v.value,
      v.target,
      v.pass === undefined ? '-' : v.pass ? 'PASS' : 'MISS',
    ]),
  ),
);
console.log(`\nload average at end ${loads()}`);
const isMissed = verdicts.some((v) => v.pass === false);
process.exitCode = isMissed && process.env.DET_BENCH_NO_FAIL !== '1' ? 1 : 0;
