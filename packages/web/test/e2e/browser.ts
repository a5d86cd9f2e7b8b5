import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';
import type { Browser, BrowserContext, BrowserContextOptions, Page } from 'playwright-core';
import { expect } from 'vitest';

/** Debian's Chromium; CI installs the `chromium` package (playwright-core downloads no browser). */
export const CHROMIUM_PATH = '/usr/bin/chromium';

/** Every wait on the page gives up after this, so a page that never renders fails fast. */
export const ACTION_TIMEOUT_MS = 10_000;
export const NAVIGATION_TIMEOUT_MS = 15_000;

/** Polls `read` until the assertion passes or the page-action timeout ends. */
export const poll = <T>(read: () => Promise<T>) =>
  expect.poll(read, { timeout: ACTION_TIMEOUT_MS, interval: 100 });

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..');

/**
 * A host name that resolves to 127.0.0.1 in the launched browser only. Browsers treat plain
 * http as a secure context only on localhost and loopback addresses, so pages served under this
 * name have no `crypto.subtle`, as a master on a LAN address over http would.
 */
export const INSECURE_HOST = 'det-ui.test';

/** Starts headless Chromium without sandbox, GPU or any background network traffic. */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(
      `${CHROMIUM_PATH} is missing: the end-to-end tests need Debian's Chromium ` +
        '(apt-get install chromium)',
    );
  }
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    timeout: NAVIGATION_TIMEOUT_MS,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      // A name that is not localhost, for a page that is not a secure context (plain http).
      `--host-resolver-rules=MAP ${INSECURE_HOST} 127.0.0.1`,
    ],
  });
}

/** A browser context on the master and its one page, whose uncaught errors are collected. */
export interface PageSession {
  context: BrowserContext;
  page: Page;
  /** Uncaught errors of the page since {@link expectNoPageErrors} last looked. */
  errors: string[];
}

/**
 * Opens a context on `baseURL` (1280×900, the e2e timeouts) and its page, collecting the page's
 * uncaught errors so that each test can fail on its own.
 */
export async function openPage(
  browser: Browser,
  baseURL: string,
  options: BrowserContextOptions = {},
): Promise<PageSession> {
  const context = await browser.newContext({
    baseURL,
    viewport: { width: 1280, height: 900 },
    ...options,
  });
  context.setDefaultTimeout(ACTION_TIMEOUT_MS);
  context.setDefaultNavigationTimeout(NAVIGATION_TIMEOUT_MS);
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(err.message));
  return { context, page, errors };
}

/** Fails (after a test) when the page threw since the last look. */
export function expectNoPageErrors(session: PageSession | undefined): void {
  expect(session?.errors.splice(0) ?? [], 'uncaught errors in the page').toEqual([]);
}

/** Signs the context in as `determined` through the API: the session cookie lands in it. */
export async function signInByApi(context: BrowserContext): Promise<void> {
  const res = await context.request.post('/api/v1/auth/login', {
    data: { username: 'determined', password: '', isHashed: false },
  });
  expect(res.status()).toBe(200);
}

/** Closes the browser first (it holds connections to the master open), then the master. */
export async function closeAll(
  browser: Browser | undefined,
  master: { close(): Promise<void> } | undefined,
): Promise<void> {
  try {
    await browser?.close();
  } finally {
    await master?.close();
  }
}

/** Where screenshots go: `$DET_TEST_ARTIFACTS/screenshots`, else `test-artifacts/screenshots`. */
export function screenshotDir(): string {
  const root = process.env.DET_TEST_ARTIFACTS;
  return join(
    root === undefined || root === '' ? join(REPO_ROOT, 'test-artifacts') : resolve(root),
    'screenshots',
  );
}

/** Saves a full-page screenshot as `<name>.png` in {@link screenshotDir}. */
export async function screenshot(page: Page, name: string): Promise<void> {
  const dir = screenshotDir();
  await mkdir(dir, { recursive: true });
  await page.screenshot({ path: join(dir, `${name}.png`), fullPage: true });
}

/** The little of the DOM that {@link paintedPixels} uses: these tests build without lib DOM. */
interface PageGlobals {
  document: {
    querySelector(selector: string): {
      width?: number;
      height?: number;
      getContext?(kind: '2d'): {
        getImageData(x: number, y: number, w: number, h: number): { data: ArrayLike<number> };
      } | null;
    } | null;
  };
}

/**
 * How many pixels of the first canvas inside `selector` are not fully transparent: more than
 * a handful means the chart drew (axes alone are thin; a series adds more).
 */
export function paintedPixels(page: Page, selector: string): Promise<number> {
  return page.evaluate((sel) => {
    const { document } = globalThis as unknown as PageGlobals;
    const canvas = document.querySelector(`${sel} canvas`);
    const { width = 0, height = 0 } = canvas ?? {};
    const ctx = width > 0 && height > 0 ? canvas?.getContext?.('2d') : undefined;
    if (ctx === undefined || ctx === null) {
      return 0;
    }
    const { data } = ctx.getImageData(0, 0, width, height);
    let painted = 0;
    for (let i = 3; i < data.length; i += 4) {
      if (data[i] !== 0) {
        painted += 1;
      }
    }
    return painted;
  }, selector);
}
