/**
 * The full run of the API fuzzer (packages/master/test/fuzz.ts): a master app on a fresh
 * database (SQLite, or PostgreSQL with DET_TEST_POSTGRES_URL and DET_FUZZ_DIALECT=postgres),
 * every route it serves, DET_FUZZ_RUNS requests (default 10,000) from DET_FUZZ_SEED. Prints the
 * answers by status and every request that got a 5xx, hung, or answered an error outside our
 * shape; exits 1 if any did.
 *
 *   node --import tsx --conditions=source scripts/fuzz-master.ts
 */
import { openFuzzMaster, runFuzz } from '../packages/master/test/fuzz.js';

const runs = Number(process.env.DET_FUZZ_RUNS ?? 10_000);
const seed = Number(process.env.DET_FUZZ_SEED ?? Date.now() % 2 ** 31);
const dialect = process.env.DET_FUZZ_DIALECT === 'postgres' ? 'postgres' : 'sqlite';

const { master, close } = await openFuzzMaster(dialect);
try {
  const started = performance.now();
  const report = await runFuzz(master, { runs, seed });
  const seconds = (performance.now() - started) / 1000;
  console.log(
    `${report.requests} requests on ${dialect}, seed ${seed}, ${seconds.toFixed(1)} s ` +
      `(${(report.requests / seconds).toFixed(0)}/s)`,
  );
  console.log(
    'by status:',
    Object.entries(report.byStatus)
      .map(([status, n]) => `${status}: ${n}`)
      .join(', '),
  );
  for (const { request, problem } of report.failures.slice(0, 50)) {
    const body = request.rawBody === undefined ? '' : ` body ${request.rawBody.slice(0, 200)}`;
    console.log(`FAIL ${request.method} ${request.path.slice(0, 200)}${body}: ${problem}`);
  }
  console.log(`${report.failures.length} failures (5xx, hangs, errors outside our shape)`);
  process.exitCode = report.failures.length === 0 ? 0 : 1;
} finally {
  await close();
}
