// A small seeded run of the API fuzzer (test/fuzz.ts) over every route the master serves; the
// full run (10,000 requests and more) is scripts/fuzz-master.ts.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { openFuzzMaster, runFuzz, servedRoutes } from '../../test/fuzz.js';
import type { TestMaster } from '../../test/helpers.js';

let m: TestMaster;
let close: () => Promise<void>;

beforeEach(async () => {
  ({ master: m, close } = await openFuzzMaster('sqlite'));
});

afterEach(() => close());

describe('the API fuzzer', () => {
  it('reaches every route the master serves', () => {
    const routes = servedRoutes(m).map((r) => `${r.method} ${r.path}`);
    expect(routes).toContain('GET /api/v1/checkpoints/:checkpointUuid/download-urls');
    expect(routes).toContain('POST /api/v1/experiments');
    expect(routes.length).toBeGreaterThan(40);
  });

  it('gets no 5xx, no hang and only well-shaped errors from 400 seeded requests', async () => {
    const report = await runFuzz(m, { runs: 400, seed: 20261207 });
    expect(report.requests).toBe(400);
    expect(report.failures.slice(0, 5)).toEqual([]);
    // The requests reached handlers, not only the auth check.
    const statuses = Object.keys(report.byStatus).map(Number);
    expect(statuses.some((s) => s >= 200 && s < 300)).toBe(true);
    expect(statuses).toContain(400);
  }, 120_000);
});
