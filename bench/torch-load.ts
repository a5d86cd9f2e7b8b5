/**
 * Loading a PyTorch checkpoint in Node against real torch (issue 4), in the same script.
 *
 * Real torch (Debian's python3-torch, /usr/bin/python3) writes a 1 GiB float32 state dict of
 * 64 tensors (32 × [2048, 4096] weights and 32 × [4096] biases, seeded). Then, in interleaved
 * rounds (DET_BENCH_REPEAT, default 5, at least 3):
 *
 *   torch warm     torch.load(map_location="cpu") in a python that has imported torch already
 *   ours warm      loadFromPath(file) in a fresh node process (built SDK), every tensor read
 *   torch cold     the same after evicting the file from the page cache (posix_fadvise)
 *   ours cold      the same
 *   torch process  `python3 -c 'import torch; torch.load(...)'`, whole process wall time
 *   ours process   `node -e 'load it'` on the built SDK, whole process wall time
 *
 * plus index only (names, dtypes, shapes) in this process, median of 50, and the peak memory of
 * our full load: the child's maxRSS minus its RSS before loading, against the file size.
 *
 * Targets: full load ≤ 0.8 × torch warm and ≤ 0.6 × cold; index ≤ 10 ms; whole process ≤ 0.6 ×;
 * peak memory ≤ 1.15 × file size. Exits 1 on a miss. Needs /usr/bin/python3 with torch.
 *
 *   node --import tsx --conditions=source bench/torch-load.ts
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { loadFromPath } from '../packages/loaders/src/dispatch.js';
import { fmt, median, table, tempDir } from './lib.js';

const PYTHON = '/usr/bin/python3';
const repeat = Math.max(3, Number.parseInt(process.env.DET_BENCH_REPEAT ?? '5', 10) || 5);
const repoRoot = resolve(fileURLToPath(new URL('..', import.meta.url)));
const sdkDist = join(repoRoot, 'packages/sdk/dist/index.js');

/** Writes the state dict with real torch; the seed makes it the same file every time. */
const GENERATE = `
import sys, torch
torch.manual_seed(0)
sd = {}
for i in range(32):
    sd[f"layers.{i}.weight"] = torch.randn(2048, 4096)
    sd[f"layers.{i}.bias"] = torch.randn(4096)
torch.save(sd, sys.argv[1])
`;

/** Times torch.load after torch is imported; prints seconds. Touches every tensor. */
const TORCH_LOAD = `
import sys, time, torch
t = time.perf_counter()
sd = torch.load(sys.argv[1], map_location="cpu")
s = sum(float(v.view(-1)[-1]) for v in sd.values())
print(time.perf_counter() - t)
`;

/** Drops the file's pages from the page cache (the file is clean, so they can go). */
const EVICT = `
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
os.close(fd)
`;

/**
 * Our load in a fresh process on the built SDK: prints seconds, RSS before and max RSS after
 * (bytes). Touches the last element of every tensor, as the torch script does.
 */
const NODE_LOAD = `
const { loadFromPath } = await import(process.argv[1]);
const before = process.memoryUsage.rss();
const t = performance.now();
const loaded = await loadFromPath(process.argv[2]);
let s = 0;
for (const tensor of loaded.tensors.values()) { const v = tensor.view(); s += v[v.length - 1]; }
const seconds = (performance.now() - t) / 1000;
console.log(JSON.stringify({ seconds, before, maxRss: process.resourceUsage().maxRSS * 1024, s }));
`;

function python(code: string, ...args: string[]): string {
  return execFileSync(PYTHON, ['-c', code, ...args], { encoding: 'utf8' }).trim();
}

function nodeLoad(file: string): { seconds: number; before: number; maxRss: number } {
  const out = execFileSync(
    process.execPath,
    ['--input-type=module', '-e', NODE_LOAD, sdkDist, file],
    { encoding: 'utf8' },
  );
  return JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as {
    seconds: number;
    before: number;
    maxRss: number;
  };
}

function wall(run: () => void): number {
  const t = performance.now();
  run();
  return (performance.now() - t) / 1000;
}

if (
  !existsSync(PYTHON) ||
  !python('import importlib.util; print(importlib.util.find_spec("torch") is not None)').includes(
    'True',
  )
) {
  console.error(`${PYTHON} with torch is needed (apt-get install python3-torch)`);
  process.exit(1);
}
console.log('building the SDK (the process comparison runs what users run: dist/)');
execFileSync('npm', ['run', 'build', '-w', '@determined-ts/api', '-w', '@determined-ts/sdk'], {
  cwd: repoRoot,
  stdio: 'ignore',
});

const dir = await tempDir('det-bench-torch-');
let failed = false;
try {
  console.log(
    `machine: ${availableParallelism()} CPUs, ${cpus()[0]?.model ?? 'unknown CPU'}; node ${process.version}; load ${loadavg()
      .map((l) => fmt(l))
      .join(' ')}`,
  );
  const file = join(dir.path, 'big_state_dict.pt');
  python(GENERATE, file);
  const fileBytes = (await stat(file)).size;
  console.log(`torch wrote ${fmt(fileBytes / 2 ** 30, 3)} GiB to ${file}`);

  // Our values against torch's, once: the last element of every tensor.
  const check = python(
    `import sys, torch, json\nsd = torch.load(sys.argv[1])\nprint(json.dumps({k: float(v.view(-1)[-1]) for k, v in sd.items()}))`,
    file,
  );
  const lastByName = JSON.parse(check) as Record<string, number>;
  const loaded = await loadFromPath(file);
  if (loaded.kind !== 'torch' || loaded.tensors.size !== 64) {
    throw new Error(`expected 64 torch tensors, got ${loaded.kind}`);
  }
  for (const [name, tensor] of loaded.tensors) {
    const v = tensor.view() as Float32Array;
    if (Math.fround(lastByName[name] ?? NaN) !== v[v.length - 1]) {
      throw new Error(`${name}: last element ${v[v.length - 1]} ≠ torch's ${lastByName[name]}`);
    }
  }

  const series = new Map<string, number[]>();
  const add = (name: string, value: number): void => {
    series.set(name, [...(series.get(name) ?? []), value]);
  };
  const peaks: number[] = [];
  for (let round = 1; round <= repeat; round += 1) {
    python('import sys; open(sys.argv[1], "rb").read()', file); // warm the cache
    add('torch warm', Number(python(TORCH_LOAD, file)));
    const warm = nodeLoad(file);
    add('ours warm', warm.seconds);
    peaks.push((warm.maxRss - warm.before) / fileBytes);
    python(EVICT, file);
    add('torch cold', Number(python(TORCH_LOAD, file)));
    python(EVICT, file);
    add('ours cold', nodeLoad(file).seconds);
    python('import sys; open(sys.argv[1], "rb").read()', file);
    add(
      'torch process',
      wall(() => python('import sys, torch; torch.load(sys.argv[1], map_location="cpu")', file)),
    );
    add(
      'ours process',
      wall(() => nodeLoad(file)),
    );
    console.log(`round ${round}/${repeat} done`);
  }
  const index: number[] = [];
  for (let i = 0; i < 60; i += 1) {
    const t = performance.now();
    const idx = await loadFromPath(file, { tensors: 'index' });
    if (idx.kind !== 'torch' || idx.tensors.size !== 64) {
      throw new Error('index-only load lost tensors');
    }
    if (i >= 10) {
      index.push(performance.now() - t);
    }
  }

  const m = (name: string): number => median(series.get(name) ?? []);
  const rows = [...series.keys()].map((name) => [
    name,
    fmt(m(name), 3),
    (series.get(name) ?? []).map((s) => fmt(s, 2)).join(' '),
  ]);
  console.log(`\n${fmt(fileBytes / 2 ** 30, 2)} GiB, 64 tensors, ${repeat} interleaved rounds\n`);
  console.log(table(['case', 'median s', 'all runs (s)'], rows));
  const verdicts: [string, number, number, string][] = [
    ['full load, warm', m('ours warm') / m('torch warm'), 0.8, '× torch'],
    ['full load, cold', m('ours cold') / m('torch cold'), 0.6, '× torch'],
    ['whole process', m('ours process') / m('torch process'), 0.6, '× torch'],
    ['index only', median(index), 10, 'ms'],
    ['peak memory of a full load', median(peaks), 1.15, '× file size'],
  ];
  console.log('');
  for (const [name, value, target, unit] of verdicts) {
    const pass = value <= target;
    failed ||= !pass;
    console.log(`${name}: ${fmt(value, 3)} ${unit} (target ≤ ${target}) ${pass ? 'PASS' : 'MISS'}`);
  }
} finally {
  await dir.cleanup();
}
process.exitCode = failed ? 1 : 0;
