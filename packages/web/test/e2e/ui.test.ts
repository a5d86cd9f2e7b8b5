import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

import type { Browser, BrowserContext, Page, Request } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import {
  ACTION_TIMEOUT_MS,
  INSECURE_HOST,
  closeAll,
  expectNoPageErrors,
  launchChromium,
  openPage,
  paintedPixels,
  poll,
  screenshot,
  signInByApi as signInContext,
} from './browser.js';
import type { PageSession } from './browser.js';
import { SEARCHER_METRIC, checkpointPath, firstTrial, seed, setPassword } from './seed.js';
import type { Seed, SeededTrial } from './seed.js';
import { startUiMaster } from './server.js';
import type { UiMaster } from './server.js';
import { readTar } from './tar.js';

/*
 * The web UI in Debian's Chromium against the real master, which serves the freshly built UI
 * and was seeded through the Core API. The routes and names used are ui-contract's.
 */

const ADMIN_PASSWORD = 'correct horse';
const SESSION_EXPIRED = 'Your session has expired. Sign in again.';

let master: UiMaster | undefined;
let browser: Browser | undefined;
let session: PageSession | undefined;
let context: BrowserContext;
let page: Page;
let data: Seed;

const pathIs = (path: string) => page.waitForURL((url) => url.pathname === path);

const trialA = (): SeededTrial => firstTrial(data.sweep);

const signInByApi = (): Promise<void> => signInContext(context);

async function fillSignIn(username: string, password: string): Promise<void> {
  await page.getByLabel('Username', { exact: true }).fill(username);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

const h1 = (name: string | RegExp) => page.getByRole('heading', { level: 1, name });

const metricSelect = () => page.getByRole('combobox', { name: 'Metric', exact: true });

beforeAll(async () => {
  // One after the other, so that afterAll can stop whichever started.
  browser = await launchChromium();
  master = await startUiMaster();
  data = await seed(master.url, master.storageDir);
  await setPassword(master.url, 'admin', ADMIN_PASSWORD);
  session = await openPage(browser, master.url, { acceptDownloads: true });
  ({ context, page } = session);
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: master.url });
  // When the UI does not render at all, fail here once instead of timing out in every test.
  await page.goto('/login');
  await page
    .getByRole('button', { name: 'Sign in' })
    .waitFor()
    .catch((err: unknown) => {
      throw new Error(`the master did not serve a working UI at ${page.url()}`, { cause: err });
    });
}, 90_000);

afterAll(() => closeAll(browser, master), 20_000);

afterEach(() => expectNoPageErrors(session));

describe('web UI in Chromium', () => {
  it('signs in as determined with the empty password and shows the user', async () => {
    await context.clearCookies();
    await page.goto('/');
    await pathIs('/login');
    await screenshot(page, 'login');
    await fillSignIn('determined', '');
    await pathIs('/experiments');
    await poll(() => page.getByTestId('current-user').textContent()).toBe('determined');
  });

  it('refuses a wrong password, then signs admin in with the right one', async () => {
    await context.clearCookies();
    await page.goto('/login');
    await fillSignIn('admin', 'wrong horse');
    await page.getByRole('alert').filter({ hasText: 'Invalid username or password' }).waitFor();
    expect(new URL(page.url()).pathname).toBe('/login');
    await screenshot(page, 'login-wrong-password');
    await fillSignIn('admin', ADMIN_PASSWORD);
    await pathIs('/experiments');
    await poll(() => page.getByTestId('current-user').textContent()).toBe('admin');
  });

  it('signs in from a plain-http address that is not a secure context', async () => {
    const url = new URL(master!.url);
    url.hostname = INSECURE_HOST;
    const insecure = await browser!.newContext({ baseURL: url.origin });
    try {
      const other = await insecure.newPage();
      await other.goto('/login');
      // No WebCrypto here, so the password goes to the master to hash.
      expect(await other.evaluate('[window.isSecureContext, typeof crypto.subtle]')).toEqual([
        false,
        'undefined',
      ]);
      await other.getByLabel('Username', { exact: true }).fill('admin');
      await other.getByLabel('Password', { exact: true }).fill('wrong horse');
      await other.getByRole('button', { name: 'Sign in' }).click();
      await other.getByRole('alert').filter({ hasText: 'Invalid username or password' }).waitFor();
      await other.getByLabel('Password', { exact: true }).fill(ADMIN_PASSWORD);
      await other.getByRole('button', { name: 'Sign in' }).click();
      await other.waitForURL((u) => u.pathname === '/experiments');
      await poll(() => other.getByTestId('current-user').textContent()).toBe('admin');
    } finally {
      await insecure.close();
    }
  });

  it('lists both experiments, sorted and filtered by the server', async () => {
    await signInByApi();
    const apiQueries: string[] = [];
    const record = (req: Request) => {
      const url = new URL(req.url());
      if (url.pathname === '/api/v1/experiments') {
        apiQueries.push(url.search);
      }
    };
    page.on('request', record);
    try {
      await page.goto('/experiments');
      await h1('Experiments').waitFor();
      const table = page.getByTestId('experiments-table');
      const rows = table.locator('tbody tr');
      const names = async () =>
        (await rows.allTextContents()).map(
          (text) => [data.sweep.name, data.baseline.name].find((n) => text.includes(n)) ?? text,
        );
      await poll(async () => (await names()).sort()).toEqual([data.baseline.name, data.sweep.name]);
      await poll(() => page.getByTestId('pager-range').textContent()).toMatch(/of 2\b/);
      await screenshot(page, 'experiments');

      const ascending = [data.baseline.name, data.sweep.name];
      const sortByName = table.getByRole('button', { name: /^Name\b/ });
      for (let click = 0; click < 2; click++) {
        const before = new URL(page.url()).searchParams.get('order');
        apiQueries.length = 0;
        await sortByName.click();
        await page.waitForURL((url) => {
          const order = url.searchParams.get('order');
          return url.searchParams.get('sort') !== null && order !== null && order !== before;
        });
        const order = new URL(page.url()).searchParams.get('order');
        expect(order).toMatch(/^(asc|desc)$/);
        const expected = order === 'asc' ? ascending : [...ascending].reverse();
        // The server sorted: the order went out with a request. When the rows were already in
        // this order, they match before that request is sent, so wait for the request itself.
        await poll(() =>
          Promise.resolve(apiQueries.some((q) => q.toLowerCase().includes(order ?? '?'))),
        ).toBe(true);
        await poll(names).toEqual(expected);
        // The sort lives in the URL: a reload keeps it.
        await page.reload();
        await poll(names).toEqual(expected);
      }

      apiQueries.length = 0;
      await page.getByLabel('Filter by name', { exact: true }).fill('cifar');
      await page.waitForURL((url) => url.searchParams.get('name') === 'cifar');
      await poll(() => Promise.resolve(apiQueries.some((q) => q.includes('cifar')))).toBe(true);
      await poll(names).toEqual([data.baseline.name]);
      await screenshot(page, 'experiments-filtered');
    } finally {
      page.off('request', record);
    }
  });

  it('shows an experiment: its searcher, two trials and its best checkpoint first', async () => {
    await signInByApi();
    const { sweep } = data;
    const best = trialA().best;
    await page.goto('/experiments');
    await page.getByTestId('experiments-table').getByRole('link', { name: sweep.name }).click();
    await pathIs(`/experiments/${sweep.id}`);
    await h1(sweep.name).waitFor();

    const config = page
      .getByRole('heading', { level: 2, name: 'Configuration' })
      .locator('xpath=..');
    await poll(() => config.textContent()).toContain(SEARCHER_METRIC);
    expect(await config.textContent()).toContain(master?.storageDir ?? '(no master)');

    const trials = page.getByTestId('trials-table').locator('tbody tr');
    await poll(() => trials.count()).toBe(2);
    for (const trial of sweep.trials) {
      const link = trials.getByRole('link', { name: `Trial ${trial.id}`, exact: true });
      expect(await link.getAttribute('href')).toBe(`/trials/${trial.id}`);
    }

    // The top 10 by validation_loss across both trials, best first.
    const top10 = sweep.trials
      .flatMap((t) => t.checkpoints)
      .sort((a, b) => a.validationLoss - b.validationLoss)
      .slice(0, 10)
      .map((c) => c.uuid);
    const bestRows = page.getByTestId('best-checkpoints-table').locator('tbody tr');
    await poll(async () =>
      (await bestRows.allTextContents()).map((text) => top10.find((u) => text.includes(u))),
    ).toEqual(top10);
    const top = bestRows.first().getByRole('link', { name: best.uuid });
    expect(await top.getAttribute('href')).toBe(checkpointPath(trialA(), best));
    await screenshot(page, 'experiment');
  });

  it('draws the trial curve with one marker per checkpoint, best and latest marked', async () => {
    await signInByApi();
    const trial = trialA();
    await page.goto(`/experiments/${data.sweep.id}`);
    await page
      .getByTestId('trials-table')
      .getByRole('link', { name: `Trial ${trial.id}`, exact: true })
      .click();
    await pathIs(`/trials/${trial.id}`);
    await h1(new RegExp(`^Trial ${trial.id}\\b`)).waitFor();
    await poll(() => metricSelect().inputValue()).toBe(SEARCHER_METRIC);

    const markers = page.getByTestId('metric-chart').getByTestId('checkpoint-marker');
    await poll(() => markers.count()).toBe(trial.checkpoints.length);
    const bestMarker = markers.and(page.locator('[data-best="true"]'));
    expect(await bestMarker.getAttribute('data-uuid')).toBe(trial.best.uuid);
    expect(await bestMarker.getAttribute('aria-label')).toBe(
      `Checkpoint ${trial.best.uuid} at step ${trial.best.steps}`,
    );
    const latestMarker = markers.and(page.locator('[data-latest="true"]'));
    expect(await latestMarker.getAttribute('data-uuid')).toBe(trial.latest.uuid);
    await poll(() => paintedPixels(page, '[data-testid="metric-chart"]')).toBeGreaterThan(500);

    const table = page.getByTestId('checkpoint-table');
    await poll(() => table.locator('tbody tr').count()).toBe(trial.checkpoints.length);
    const bestRow = table.locator(`tr[data-uuid="${trial.best.uuid}"]`);
    const latestRow = table.locator(`tr[data-uuid="${trial.latest.uuid}"]`);
    const badges = async (row: typeof bestRow) =>
      (await row.getByText(/^(best|latest)$/).allTextContents()).sort();
    await poll(() => badges(bestRow)).toEqual(['best']);
    await poll(() => badges(latestRow)).toEqual(['latest']);

    await poll(() => page.getByTestId('trial-logs').textContent()).toContain(
      `checkpoint ${trial.latest.uuid}`,
    );
    await screenshot(page, 'trial');

    // Another metric redraws the chart; the markers stay, one per checkpoint.
    await metricSelect().selectOption('loss');
    // Clicked while the new series loads, the box may read unchecked until the data is there.
    const logScale = page.getByRole('checkbox', { name: 'Log scale' });
    await logScale.click();
    await poll(() => logScale.isChecked()).toBe(true);
    await poll(() => markers.count()).toBe(trial.checkpoints.length);
    await poll(() => paintedPixels(page, '[data-testid="metric-chart"]')).toBeGreaterThan(500);
    await screenshot(page, 'trial-loss-log-scale');
  });

  it('opens the best checkpoint from the checkpoint table', async () => {
    await signInByApi();
    const trial = trialA();
    await page.goto(`/trials/${trial.id}`);
    const row = page.getByTestId('checkpoint-table').locator(`tr[data-uuid="${trial.best.uuid}"]`);
    await row.getByRole('link', { name: trial.best.uuid }).click();
    await pathIs(checkpointPath(trial, trial.best));
    await h1(`Checkpoint ${trial.best.uuid}`).waitFor();
  });

  it('opens the best checkpoint from its marker on the chart', async () => {
    await signInByApi();
    const trial = trialA();
    await page.goto(`/trials/${trial.id}`);
    await page.locator('[data-testid="checkpoint-marker"][data-best="true"]').click();
    await pathIs(checkpointPath(trial, trial.best));
    await h1(`Checkpoint ${trial.best.uuid}`).waitFor();
  });

  it("lists the checkpoint's files and downloads them as the master's tar", async () => {
    await signInByApi();
    const trial = trialA();
    const { best } = trial;
    await page.goto(checkpointPath(trial, best));
    await h1(`Checkpoint ${best.uuid}`).waitFor();
    const files = page.getByTestId('checkpoint-files');
    for (const [name, bytes] of Object.entries(best.files)) {
      const row = files.locator('tr').filter({ hasText: name });
      // The size, in bytes (all are under 1000): "303", "303 B", "303 bytes".
      await poll(async () => (await row.textContent())?.replace(name, '')).toMatch(
        new RegExp(`(^|[^\\d.,])${bytes.length}([^\\d.,]|$)`),
      );
    }
    await files.locator('tr').filter({ hasText: 'metadata.json' }).waitFor();
    // Where its files are: the seed's experiments store checkpoints in a directory.
    const location = page.getByRole('textbox', { name: 'Location', exact: true });
    expect(await location.getAttribute('data-testid')).toBe('checkpoint-location');
    expect(await location.inputValue()).toBe(`${master?.storageDir ?? '(no master)'}/${best.uuid}`);
    await screenshot(page, 'checkpoint');

    const link = page.getByRole('link', { name: 'Download' });
    expect(await link.getAttribute('href')).toBe(`/checkpoints/${best.uuid}`);
    expect(await link.getAttribute('download')).not.toBeNull();
    const [download] = await Promise.all([page.waitForEvent('download'), link.click()]);
    expect(await download.failure()).toBeNull();
    const tar = await readTar(await download.path());
    const metadata = await readFile(join(master?.storageDir ?? '', best.uuid, 'metadata.json'));
    const expected = new Map([...Object.entries(best.files), ['metadata.json', metadata]]);
    expect([...tar.keys()].sort()).toEqual([...expected.keys()].sort());
    for (const [name, bytes] of expected) {
      expect(tar.get(name)?.equals(bytes), name).toBe(true);
    }
    expect(JSON.parse(metadata.toString())).toMatchObject({ steps_completed: best.steps });
  });

  it('shows SDK and CLI snippets for the checkpoint that copy to the clipboard', async () => {
    await signInByApi();
    const trial = trialA();
    const { uuid } = trial.best;
    await page.goto(checkpointPath(trial, trial.best));
    const sdk = (await page.getByTestId('sdk-snippet').textContent()) ?? '';
    const cli = (await page.getByTestId('cli-snippet').textContent()) ?? '';
    expect(sdk).toContain('new TrialReference(');
    expect(sdk).toContain(String(trial.id));
    expect(sdk).toContain(uuid);
    expect(cli).toContain(`det checkpoint download ${uuid}`);

    // A button may read "Copied" for a while after its click.
    const buttons = page.getByRole('button', { name: /^(Copy|Copied)$/ });
    expect(await buttons.count()).toBe(2);
    const clipboard = () => page.evaluate<string>('navigator.clipboard.readText()');
    const copied: string[] = [];
    for (let i = 0; i < 2; i++) {
      await buttons.nth(i).click();
      await page.getByText('Copied', { exact: true }).first().waitFor();
      // The write is asynchronous: wait for this button's text to replace the last one's.
      await poll(clipboard).not.toBe(copied.at(-1) ?? '');
      copied.push(await clipboard());
    }
    expect(copied.map((s) => s.trim()).sort()).toEqual([sdk.trim(), cli.trim()].sort());
  });

  it('answers missing objects and bad ids with a "Not found" page naming them', async () => {
    await signInByApi();
    const uuid = randomUUID();
    const cases: [path: string, named: string, shot: string][] = [
      ['/experiments/999999', 'Experiment 999999', 'not-found-experiment'],
      ['/trials/abc', "'abc'", 'not-found-trial-id'],
      ['/trials/999999', 'Trial 999999', 'not-found-trial'],
      [`/trials/${trialA().id}/checkpoints/${uuid}`, uuid, 'not-found-checkpoint'],
      ['/no/such/page', '', 'not-found-path'],
    ];
    for (const [path, named, shot] of cases) {
      await page.goto(path);
      await h1('Not found').waitFor();
      expect(await page.locator('body').textContent(), path).toContain(named);
      await screenshot(page, shot);
    }
  });

  it('returns to /login with "session expired" once the session is gone', async () => {
    await signInByApi();
    await page.goto('/experiments');
    const link = page.getByTestId('experiments-table').getByRole('link', { name: data.sweep.name });
    await link.waitFor();
    // Revoke the session server-side; the browser keeps its (now dead) cookie.
    const auth = (await context.cookies()).find((c) => c.name === 'auth');
    expect(auth).toBeDefined();
    const res = await fetch(`${master?.url}/api/v1/auth/logout`, {
      method: 'POST',
      // As a script, not a page: a cookie-borne POST without Origin is refused as cross-site.
      headers: { authorization: `Bearer ${auth?.value ?? ''}` },
      signal: AbortSignal.timeout(ACTION_TIMEOUT_MS),
    });
    expect(res.status).toBe(200);

    await link.click();
    const next = `/experiments/${data.sweep.id}`;
    await page.waitForURL((url) => url.pathname === '/login');
    expect(new URL(page.url()).searchParams.get('next')).toBe(next);
    await page.getByRole('status').filter({ hasText: SESSION_EXPIRED }).waitFor();
    await screenshot(page, 'session-expired');

    await fillSignIn('determined', '');
    await pathIs(next);
    await h1(data.sweep.name).waitFor();
  });

  it('refuses a state change that a page on another port posts with the session cookie', async () => {
    await signInByApi();
    // Another port of the same host is the same site, so SameSite=Lax lets the browser send
    // the cookie with this page's form; the master must refuse the cross-origin POST itself.
    const target = `${master?.url ?? ''}/api/v1/auth/logout`;
    const attacker = createServer((_req, res) => {
      res.setHeader('content-type', 'text/html');
      res.end(
        `<form id="f" method="POST" action="${target}"></form><script>document.getElementById('f').submit()</script>`,
      );
    });
    await new Promise<void>((listening) => attacker.listen(0, '127.0.0.1', listening));
    try {
      const { port } = attacker.address() as AddressInfo;
      const answer = page.waitForResponse((r) => r.url() === target);
      await page.goto(`http://127.0.0.1:${port}/`);
      expect((await answer).status()).toBe(403);
      await page.getByText('refused a same-site POST request').waitFor();
      // The session survived: the page did not sign the user out.
      expect((await context.request.get('/api/v1/me')).status()).toBe(200);
    } finally {
      await new Promise<void>((closed) => attacker.close(() => closed()));
    }
  });

  it('signs out to /login', async () => {
    await signInByApi();
    await page.goto('/experiments');
    await page.getByTestId('current-user').waitFor();
    await page.getByRole('button', { name: 'Sign out' }).click();
    await pathIs('/login');
    expect((await context.cookies()).some((c) => c.name === 'auth')).toBe(false);
    await page.goto('/experiments');
    await pathIs('/login');
  });
});
