// Input built to break the master rather than to use it: YAML whose aliases form a cycle,
// values that name members of Object.prototype where they select something, JSON nested far
// past any real request. Each is a 400 in our error shape, naming what was wrong; never a 500.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { expectError } from '../../test/expect-error.js';
import { openTestMaster } from '../../test/helpers.js';
import type { TestMaster } from '../../test/helpers.js';

let m: TestMaster;
let close: () => Promise<void>;
let token: string;

beforeEach(async () => {
  ({ master: m, close } = await openTestMaster('sqlite'));
  token = await m.login();
});

afterEach(() => close());

const createExperiment = (config: string): Promise<Response> =>
  m.request('POST', '/api/v1/experiments', { token, body: { config, unmanaged: true } });

const PROTOTYPE_NAMES = ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf'];

describe('hostile input', () => {
  it('refuses YAML whose aliases form a cycle', async () => {
    for (const config of [
      'a: &a [*a]',
      'name: x\nsearcher: &s {metric: loss, self: *s}',
      '&top {name: x, me: *top}',
    ]) {
      await expectError(await createExperiment(config), 400, 'invalid experiment config');
    }
  });

  it('refuses a YAML alias bomb', async () => {
    const levels = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 12; i += 1) {
      const prev = String.fromCharCode(96 + i);
      const name = String.fromCharCode(97 + i);
      levels.push(`${name}: &${name} [${Array(10).fill(`*${prev}`).join(', ')}]`);
    }
    await expectError(await createExperiment(levels.join('\n')), 400, 'invalid experiment config');
  });

  it.each(PROTOTYPE_NAMES)('refuses checkpoint_storage.type %s, naming the key', async (type) => {
    const res = await createExperiment(
      `{name: x, searcher: {metric: loss}, checkpoint_storage: {type: "${type}", bucket: b}}`,
    );
    await expectError(res, 400, 'checkpoint_storage.type must be one of');
  });

  it.each(PROTOTYPE_NAMES)(
    'refuses %s where a query value selects a sort or a format',
    async (name) => {
      for (const path of [
        `/api/v1/experiments?sortBy=${name}`,
        `/api/v1/experiments?orderBy=${name}`,
        `/api/v1/experiments/1/trials?sortBy=${name}`,
        `/api/v1/trials/1/checkpoints?sortByAttr=${name}`,
        `/api/v1/checkpoints/00000000-0000-4000-8000-000000000001?format=${name}`,
        `/checkpoints/00000000-0000-4000-8000-000000000001?format=${name}`,
      ]) {
        const res = await m.request('GET', path, { token });
        expect(res.status, path).toBeLessThan(500);
        expect(res.headers.get('content-type') ?? '', path).toMatch(/^application\/json/);
      }
    },
  );

  it('refuses an experiment name filter too long for a LIKE pattern, naming the limit', async () => {
    const res = await m.request('GET', `/api/v1/experiments?name=${'a'.repeat(70_000)}`, { token });
    await expectError(res, 400, 'invalid name: a filter has at most 4096 characters');
    const ok = await m.request('GET', `/api/v1/experiments?name=${'a'.repeat(4096)}`, { token });
    expect(ok.status).toBe(200);
  });

  it('refuses JSON nested 20,000 levels deep, naming the depth', async () => {
    const depth = 20_000;
    const rawBody = `{"config": "name: x", "unmanaged": true, "deep": ${'['.repeat(depth)}${']'.repeat(depth)}}`;
    const res = await m.request('POST', '/api/v1/experiments', { token, rawBody });
    await expectError(res, 400, 'nested');
    const withNul = `{"config": "name: x", "x": ${'['.repeat(depth)}"\\u0000"${']'.repeat(depth)}}`;
    await expectError(
      await m.request('POST', '/api/v1/experiments', { token, rawBody: withNul }),
      400,
      'nested',
    );
  });
});
