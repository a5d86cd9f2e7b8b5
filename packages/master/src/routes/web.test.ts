import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createApp } from '../app.js';
import { expectError } from '../../test/expect-error.js';
import { openTestMaster, tempDir, testDialects } from '../../test/helpers.js';
import type { TestMaster } from '../../test/helpers.js';

const BROWSER = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';
const INDEX = '<!doctype html><html><body><div id="root"></div></body></html>\n';
const SCRIPT = 'console.log("app");\n';

/** A built UI as Vite lays it out, plus things that must never be served. */
function writeUi(root: string): void {
  mkdirSync(join(root, 'ui', 'assets'), { recursive: true });
  writeFileSync(join(root, 'ui', 'index.html'), INDEX);
  writeFileSync(join(root, 'ui', 'assets', 'index-4f2a9c.js'), SCRIPT);
  writeFileSync(join(root, 'ui', 'assets', 'index-77b0e1.css'), 'body{margin:0}\n');
  writeFileSync(join(root, 'ui', 'favicon.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>\n');
  writeFileSync(join(root, 'ui', '.env'), 'SECRET=1\n');
  writeFileSync(join(root, 'outside.txt'), 'outside the web root\n');
}

for (const dialect of testDialects()) {
  describe(`web UI [${dialect}]`, () => {
    let dir: Awaited<ReturnType<typeof tempDir>>;
    let m: TestMaster;
    let close: () => Promise<void>;
    beforeAll(async () => {
      dir = await tempDir();
      writeUi(dir.path);
      ({ master: m, close } = await openTestMaster(dialect, { webRoot: join(dir.path, 'ui') }));
    });
    afterAll(async () => {
      await close();
      await dir.cleanup();
    });

    const get = (path: string, accept?: string, method = 'GET') =>
      m.request(method, path, accept === undefined ? {} : { headers: { accept } });

    it('serves index.html at / without a session, revalidated on every load', async () => {
      for (const accept of [BROWSER, undefined]) {
        const res = await get('/', accept);
        expect(res.status).toBe(200);
        expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
        expect(res.headers.get('cache-control')).toBe('no-cache');
        expect(await res.text()).toBe(INDEX);
      }
      const head = await get('/', BROWSER, 'HEAD');
      expect(head.status).toBe(200);
      expect(head.headers.get('content-length')).toBe(String(INDEX.length));
      expect(await head.text()).toBe('');
      expect((await get('/index.html')).headers.get('cache-control')).toBe('no-cache');
    });

    it('serves files at their paths with their types; hashed assets are cached for good', async () => {
      const script = await get('/assets/index-4f2a9c.js', '*/*');
      expect(script.status).toBe(200);
      expect(script.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
      expect(script.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
      expect(script.headers.get('x-content-type-options')).toBe('nosniff');
      expect(await script.text()).toBe(SCRIPT);
      const css = await get('/assets/index-77b0e1.css');
      expect(css.headers.get('content-type')).toBe('text/css; charset=utf-8');
      expect(css.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
      const icon = await get('/favicon.svg');
      expect(icon.headers.get('content-type')).toBe('image/svg+xml; charset=utf-8');
      expect(icon.headers.get('cache-control')).toBe('no-cache');
      const head = await get('/assets/index-4f2a9c.js', undefined, 'HEAD');
      expect([head.status, head.headers.get('content-length')]).toEqual([
        200,
        String(SCRIPT.length),
      ]);
      const part = await m.request('GET', '/assets/index-4f2a9c.js', {
        headers: { range: 'bytes=0-6' },
      });
      expect(part.status).toBe(206);
      expect(await part.text()).toBe('console');
    });

    it('answers any other page a browser asks for with index.html, so client routes survive a reload', async () => {
      for (const path of [
        '/experiments',
        '/experiments/3',
        '/trials/7/checkpoints/00000000-0000-4000-8000-000000000001',
        '/login?next=%2Fexperiments',
        '/assets/missing.js',
      ]) {
        const res = await get(path, BROWSER);
        expect(res.status, path).toBe(200);
        expect(res.headers.get('content-type'), path).toBe('text/html; charset=utf-8');
        expect(res.headers.get('cache-control'), path).toBe('no-cache');
        expect(await res.text(), path).toBe(INDEX);
      }
      expect((await get('/experiments/3', BROWSER, 'HEAD')).status).toBe(200);
      // Not a page request: a missing file stays a JSON 404.
      for (const accept of [undefined, '*/*', 'application/json', 'text/html;q=0, */*']) {
        await expectError(
          await get('/experiments/3', accept),
          404,
          'no route for GET /experiments/3',
        );
      }
      await expectError(await get('/assets/missing.js', '*/*'), 404, 'no route for GET');
      await expectError(
        await m.request('POST', '/experiments/3', { headers: { accept: BROWSER } }),
        404,
        'no route for POST /experiments/3',
      );
    });

    it("never shadows the master's own paths: their answers and 404s stay JSON", async () => {
      for (const path of ['/api', '/info/more', '/checkpoints']) {
        await expectError(await get(path, BROWSER), 404, 'no route for GET');
      }
      const token = await m.login();
      await expectError(
        await m.request('GET', '/api/v1/nope', { token, headers: { accept: BROWSER } }),
        404,
        'no route for GET /api/v1/nope',
      );
      const info = await get('/info', BROWSER);
      expect(info.status).toBe(200);
      expect(info.headers.get('content-type')).toMatch(/^application\/json/);
      await expectError(await get('/api/v1/me', BROWSER), 401, 'token missing');
      await expectError(await get('/task-logs', BROWSER), 401, 'token missing');
      await expectError(
        await get('/checkpoints/00000000-0000-4000-8000-000000000001', BROWSER),
        401,
        'token missing',
      );
    });

    it('serves nothing outside the web root, and no dot-files', async () => {
      for (const path of [
        '/../outside.txt',
        '/%2e%2e/outside.txt',
        '/assets/..%2f..%2foutside.txt',
        '/assets/%2e%2e/%2e%2e/outside.txt',
        '/..%5coutside.txt',
        '/.env',
        '/assets/../.env',
      ]) {
        const page = await get(path, BROWSER);
        const text = await page.text();
        expect(text, path).not.toContain('outside the web root');
        expect(text, path).not.toContain('SECRET');
        expect([200, 404], path).toContain(page.status);
        const file = await get(path, '*/*');
        expect(file.status, path).toBe(404);
        expect(await file.text(), path).not.toContain('SECRET');
      }
    });
  });
}

describe('web UI not built', () => {
  it('answers pages with a 503 that says how to build it, then serves the UI once built', async () => {
    const dir = await tempDir();
    const { master: m, close } = await openTestMaster('sqlite', { webRoot: dir.path });
    try {
      const res = await m.request('GET', '/experiments/3', { headers: { accept: BROWSER } });
      expect(res.status).toBe(503);
      expect(res.headers.get('content-type')).toBe('text/html; charset=UTF-8');
      expect(res.headers.get('cache-control')).toBe('no-store');
      const text = await res.text();
      expect(text).toContain('npm run build -w @determined-ts/web');
      expect(text).toContain(dir.path);
      // Not a page: the usual JSON 404; the API works regardless.
      await expectError(await m.request('GET', '/favicon.svg'), 404, 'no route for GET');
      expect((await m.request('GET', '/api/v1/master')).status).toBe(200);
      // Built while the master runs: served from the next request on.
      writeFileSync(join(dir.path, 'index.html'), INDEX);
      const built = await m.request('GET', '/experiments/3', { headers: { accept: BROWSER } });
      expect([built.status, await built.text()]).toEqual([200, INDEX]);
    } finally {
      await close();
      await dir.cleanup();
    }
  });

  it('says the UI package is missing when no web root is set', async () => {
    const { master: m, close } = await openTestMaster('sqlite');
    try {
      const app = createApp({ ...m.deps, settings: { ...m.deps.settings, webRoot: undefined } });
      const res = await app.request('/', { headers: { accept: BROWSER } });
      expect(res.status).toBe(503);
      const text = await res.text();
      expect(text).toContain('@determined-ts/web');
      expect(text).toContain('npm run build -w @determined-ts/web');
    } finally {
      await close();
    }
  });
});
