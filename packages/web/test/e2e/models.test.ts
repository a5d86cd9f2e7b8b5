import type { Browser, BrowserContext, Page, Request } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { archiveModel, createModel, registerModelVersion } from '@determined-ts/sdk';

import {
  closeAll,
  expectNoPageErrors,
  launchChromium,
  openPage,
  poll,
  screenshot,
  signInByApi as signInContext,
} from './browser.js';
import type { PageSession } from './browser.js';
import { checkpointPath, firstTrial, seed, signIn } from './seed.js';
import type { Seed, SeededCheckpoint, SeededTrial } from './seed.js';
import { startUiMaster } from './server.js';
import type { UiMaster } from './server.js';

/*
 * The model registry pages in Debian's Chromium against the real master, seeded through the
 * Core API (experiments and checkpoints) and the SDK (models and versions).
 */

const RESNET = 'resnet classifier';
const BERT = 'bert tagger';
/** Created by admin, so `determined` may not delete it. */
const ADMIN_MODEL = 'admin-model';
const ARCHIVED_MODEL = 'old-model';
const FILLERS = Array.from({ length: 23 }, (_, i) => `filler-${String(i + 1).padStart(2, '0')}`);
/** Every model the list shows by default (archived ones are hidden). */
const LISTED = [RESNET, BERT, ADMIN_MODEL, ...FILLERS];
const PAGE_SIZE = 20;

let master: UiMaster | undefined;
let browser: Browser | undefined;
let session: PageSession | undefined;
let context: BrowserContext;
let page: Page;
let data: Seed;
/** Versions 1 and 2 of RESNET, in that order. */
let resnetVersions: SeededCheckpoint[];

const trialA = (): SeededTrial => firstTrial(data.sweep);
const h1 = (name: string | RegExp) => page.getByRole('heading', { level: 1, name });
const pathIs = (path: string) => page.waitForURL((url) => url.pathname === path);

/** The little of the DOM that {@link attributes} uses: these tests build without lib DOM. */
interface AttributeGlobals {
  document: {
    querySelectorAll(selector: string): ArrayLike<{ getAttribute(name: string): string | null }>;
  };
}

/**
 * Attribute `name` of every element `selector` matches, in document order, read in one go (a
 * locator per row would wait for rows that a re-render just removed).
 */
function attributes(selector: string, name: string): Promise<(string | null)[]> {
  return page.evaluate(
    ([sel, attr]) => {
      const { document } = globalThis as unknown as AttributeGlobals;
      return Array.from(document.querySelectorAll(sel), (e) => e.getAttribute(attr));
    },
    [selector, name] as const,
  );
}

/** The model names in the models table, top to bottom (each row carries its model's name). */
const listedNames = () => attributes('[data-testid="models-table"] tbody tr', 'data-model');

const signInByApi = (): Promise<void> => signInContext(context);

/** The models, as a team would have them: a few real ones, many fillers, one archived. */
async function seedModels(baseUrl: string): Promise<void> {
  const client = await signIn(baseUrl, 'determined');
  const trial = trialA();
  await createModel(client, {
    name: RESNET,
    description: 'image classifier',
    labels: ['prod', 'vision'],
    metadata: { team: 'vision' },
    notes: 'Trained on the sweep.',
  });
  resnetVersions = [trial.checkpoints[0], trial.best].map((c) => {
    if (c === undefined) {
      throw new Error('the sweep has no checkpoints');
    }
    return c;
  });
  for (const c of resnetVersions) {
    await registerModelVersion(client, RESNET, c.uuid);
  }
  await createModel(client, { name: BERT, description: 'token tagger', labels: ['nlp'] });
  for (const name of FILLERS) {
    await createModel(client, { name, labels: ['filler'] });
  }
  await createModel(client, { name: ARCHIVED_MODEL, labels: ['filler'] });
  await archiveModel(client, ARCHIVED_MODEL);
  const admin = await signIn(baseUrl, 'admin');
  await createModel(admin, { name: ADMIN_MODEL });
}

beforeAll(async () => {
  browser = await launchChromium();
  master = await startUiMaster();
  data = await seed(master.url, master.storageDir);
  await seedModels(master.url);
  session = await openPage(browser, master.url, { acceptDownloads: true });
  ({ context, page } = session);
  await signInByApi();
}, 90_000);

afterAll(() => closeAll(browser, master), 20_000);

afterEach(() => expectNoPageErrors(session));

describe('model registry in Chromium', () => {
  it('lists the models, sorted, paged and filtered by the server', async () => {
    const modelQueries: URLSearchParams[] = [];
    const record = (req: Request) => {
      const url = new URL(req.url());
      if (url.pathname === '/api/v1/models') {
        modelQueries.push(url.searchParams);
      }
    };
    page.on('request', record);
    try {
      await page.goto('/experiments');
      await page
        .getByRole('navigation', { name: 'Main' })
        .getByRole('link', { name: 'Models' })
        .click();
      await pathIs('/models');
      await h1('Models').waitFor();
      const range = page.getByTestId('pager-range');
      await poll(() => range.textContent()).toBe(`1–${PAGE_SIZE} of ${LISTED.length}`);
      await screenshot(page, 'models');

      // By name, A→Z and back, on the server.
      const ascending = [...LISTED].sort();
      const sortByName = page.getByTestId('models-table').getByRole('button', { name: /^Name\b/ });
      await sortByName.click();
      await page.waitForURL((url) => url.searchParams.get('order') === 'asc');
      await poll(listedNames).toEqual(ascending.slice(0, PAGE_SIZE));
      expect(modelQueries.some((q) => q.get('sortBy') === 'SORT_BY_NAME')).toBe(true);
      await sortByName.click();
      await page.waitForURL((url) => url.searchParams.get('order') === 'desc');
      await poll(listedNames).toEqual([...ascending].reverse().slice(0, PAGE_SIZE));

      // The second page, which a reload keeps.
      await page.getByRole('button', { name: 'Next' }).click();
      await page.waitForURL((url) => url.searchParams.get('page') === '2');
      await poll(listedNames).toEqual([...ascending].reverse().slice(PAGE_SIZE));
      await poll(() => range.textContent()).toBe(
        `${PAGE_SIZE + 1}–${LISTED.length} of ${LISTED.length}`,
      );
      await page.reload();
      await poll(listedNames).toEqual([...ascending].reverse().slice(PAGE_SIZE));

      await page.getByLabel('Filter by name', { exact: true }).fill('resnet');
      await page.waitForURL((url) => url.searchParams.get('name') === 'resnet');
      await poll(listedNames).toEqual([RESNET]);
      const row = page.locator(`tr[data-model="${RESNET}"]`);
      expect(await row.textContent()).toContain('image classifier');
      expect(await row.textContent()).toContain('prodvision');
      await page.getByLabel('Filter by name', { exact: true }).fill('');
      await page.waitForURL((url) => !url.searchParams.has('name'));

      const label = page.getByRole('combobox', { name: 'Label', exact: true });
      // The picker lists the labels the master knows, archived models' included.
      await poll(async () => (await label.locator('option').allTextContents()).sort()).toEqual(
        ['All labels', 'filler', 'nlp', 'prod', 'vision'].sort(),
      );
      await label.selectOption('vision');
      await poll(listedNames).toEqual([RESNET]);
      await label.selectOption('filler');
      await poll(() => range.textContent()).toBe(`1–${PAGE_SIZE} of ${FILLERS.length}`);
      await screenshot(page, 'models-label-filter');

      const archived = page.getByRole('combobox', { name: 'Archived', exact: true });
      await archived.selectOption('only');
      await poll(listedNames).toEqual([ARCHIVED_MODEL]);
      expect(await page.locator(`tr[data-model="${ARCHIVED_MODEL}"]`).textContent()).toContain(
        'archived',
      );
      await archived.selectOption('show');
      await poll(() => range.textContent()).toBe(`1–${PAGE_SIZE} of ${FILLERS.length + 1}`);
      await archived.selectOption('hide');
      await label.selectOption('');

      const owner = page.getByRole('combobox', { name: 'Owner', exact: true });
      await owner.locator('option', { hasText: 'admin' }).waitFor({ state: 'attached' });
      await owner.selectOption('admin');
      await poll(listedNames).toEqual([ADMIN_MODEL]);
    } finally {
      page.off('request', record);
    }
  });

  it("shows a model's versions, linking to each checkpoint, its trial and its download", async () => {
    const trial = trialA();
    await page.goto('/models?name=resnet');
    await page.getByTestId('models-table').getByRole('link', { name: RESNET }).click();
    await pathIs(`/models/${encodeURIComponent(RESNET)}`);
    await h1(RESNET).waitFor();
    await poll(() => page.getByTestId('model-description').textContent()).toBe('image classifier');
    expect(await page.getByTestId('model-notes').textContent()).toBe('Trained on the sweep.');

    // Newest first.
    await poll(() => attributes('[data-testid="versions-table"] tbody tr', 'id')).toEqual([
      'version-2',
      'version-1',
    ]);
    await screenshot(page, 'model');
    for (const [i, c] of resnetVersions.entries()) {
      const row = page.locator(`#version-${i + 1}`);
      expect(await row.getByRole('link', { name: `Trial ${trial.id}` }).getAttribute('href')).toBe(
        `/trials/${trial.id}`,
      );
      const download = row.getByRole('link', { name: `Download version ${i + 1}` });
      expect(await download.getAttribute('href')).toBe(`/checkpoints/${c.uuid}`);
    }

    // The download is the checkpoint's archive from the master.
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('link', { name: 'Download version 2' }).click(),
    ]);
    expect(await download.failure()).toBeNull();
    expect(download.suggestedFilename()).toBe(`${resnetVersions[1]?.uuid ?? '?'}.tar`);

    const v2 = resnetVersions[1] as SeededCheckpoint;
    await page.locator('#version-2').getByRole('link', { name: v2.uuid }).click();
    await pathIs(checkpointPath(trial, v2));
    await h1(`Checkpoint ${v2.uuid}`).waitFor();
    await page.goBack();
    await page
      .locator('#version-1')
      .getByRole('link', { name: `Trial ${trial.id}` })
      .click();
    await pathIs(`/trials/${trial.id}`);
    await h1(new RegExp(`^Trial ${trial.id}\\b`)).waitFor();
  });

  it('sets, moves and removes aliases, and shows each change in the history', async () => {
    await page.goto(`/models/${encodeURIComponent(RESNET)}`);
    await h1(RESNET).waitFor();
    const form = page.getByRole('form', { name: 'Set alias' });
    const aliases = page.getByTestId('aliases-table');
    const history = page.getByTestId('alias-history-table').locator('tbody tr');
    const historyText = async () =>
      (await history.allTextContents()).map((t) =>
        t.replace(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d/, ''),
      );
    await page.getByText('No alias changes yet.').waitFor();

    // A name the master would refuse is caught before it is sent.
    await form.getByRole('textbox', { name: 'Alias' }).fill('latest');
    await form.getByRole('textbox', { name: 'Version' }).fill('1');
    await form.getByRole('button', { name: 'Set alias' }).click();
    await page.getByRole('alert').filter({ hasText: 'reserved' }).waitFor();

    await form.getByRole('textbox', { name: 'Alias' }).fill('production');
    await form.getByRole('button', { name: 'Set alias' }).click();
    const production = aliases.locator('tr[data-alias="production"]');
    await poll(() => production.getByRole('link').textContent()).toBe('v1');
    expect(await production.textContent()).toContain('determined');
    await poll(() => page.locator('#version-1').textContent()).toContain('production');
    await poll(historyText).toEqual(['productionset to v1determined']);

    // Move it to version 2 from its row.
    await production.getByRole('button', { name: 'Move production', exact: true }).click();
    await form.getByRole('textbox', { name: 'Version' }).fill('2');
    await form.getByRole('button', { name: 'Set alias' }).click();
    await poll(() => production.getByRole('link').textContent()).toBe('v2');
    await poll(() => page.locator('#version-2').textContent()).toContain('production');
    await poll(() => page.locator('#version-1').textContent()).not.toContain('production');
    await poll(historyText).toEqual([
      'productionmoved v1 → v2determined',
      'productionset to v1determined',
    ]);

    // An unknown version: the master's 404 says so, and nothing changes.
    await form.getByRole('textbox', { name: 'Alias' }).fill('staging');
    await form.getByRole('textbox', { name: 'Version' }).fill('99');
    await form.getByRole('button', { name: 'Set alias' }).click();
    await page.getByRole('alert').filter({ hasText: /99/ }).waitFor();

    await form.getByRole('textbox', { name: 'Version' }).fill('1');
    await form.getByRole('button', { name: 'Set alias' }).click();
    await poll(() => aliases.locator('tbody tr').count()).toBe(2);
    await screenshot(page, 'model-aliases');
    await aliases.getByRole('button', { name: 'Remove staging', exact: true }).click();
    await poll(() => aliases.locator('tbody tr').count()).toBe(1);
    await poll(historyText).toEqual([
      'stagingremoved from v1determined',
      'stagingset to v1determined',
      'productionmoved v1 → v2determined',
      'productionset to v1determined',
    ]);

    // The alias is a version the API resolves.
    const res = await context.request.get(
      `/api/v1/models/${encodeURIComponent(RESNET)}/versions/production`,
    );
    expect(res.status()).toBe(200);
    const body = (await res.json()) as { modelVersion: { version: number } };
    expect(body.modelVersion.version).toBe(2);
  });

  it('registers a checkpoint from its page as the next version, or as a new model', async () => {
    const trial = trialA();
    const latest = trial.latest;
    await page.goto(checkpointPath(trial, latest));
    await h1(`Checkpoint ${latest.uuid}`).waitFor();
    const form = page.getByRole('form', { name: 'Register checkpoint' });
    const modelInput = form.getByRole('combobox', { name: 'Model' });
    // The picker offers the existing models as the name is typed.
    await modelInput.fill('resnet');
    await poll(() =>
      attributes('form[aria-label="Register checkpoint"] datalist option', 'value'),
    ).toEqual([RESNET]);
    await modelInput.fill(RESNET);
    await form.getByRole('button', { name: 'Register' }).click();
    const status = page.getByRole('status').filter({ hasText: 'Registered as' });
    await poll(() => status.textContent()).toBe(`Registered as version 3 of ${RESNET}.`);
    await screenshot(page, 'checkpoint-registered');
    await status.getByRole('link').click();
    await pathIs(`/models/${encodeURIComponent(RESNET)}`);
    expect(new URL(page.url()).hash).toBe('#version-3');
    const v3 = page.locator('#version-3');
    await poll(() => v3.getAttribute('class')).toBe('target');
    expect(await v3.getByRole('link', { name: latest.uuid }).getAttribute('href')).toBe(
      checkpointPath(trial, latest),
    );

    // A name no model has creates the model.
    await page.goto(checkpointPath(trial, latest));
    await modelInput.fill('fresh-model');
    await page.getByTestId('new-model-hint').waitFor();
    await form.getByRole('button', { name: 'Register' }).click();
    await poll(() => status.textContent()).toBe(
      'Registered as version 1 of fresh-model (a new model).',
    );
    await status.getByRole('link').click();
    await pathIs('/models/fresh-model');
    await poll(() => page.locator('#version-1').getAttribute('class')).toBe('target');
  });

  it('edits and archives a model, deletes its own, and shows a refused delete', async () => {
    await page.goto(`/models/${encodeURIComponent(BERT)}`);
    await h1(BERT).waitFor();
    await page.getByRole('button', { name: 'Edit' }).click();
    const form = page.getByRole('form', { name: 'Edit model' });
    await form.getByRole('textbox', { name: 'Description' }).fill('tags tokens');
    await form.getByRole('textbox', { name: /^Labels/ }).fill('nlp, text, nlp');
    await form.getByRole('textbox', { name: 'Notes' }).fill('A BERT fine-tune.');
    await form.getByRole('button', { name: 'Save' }).click();
    await poll(() => page.getByTestId('model-description').textContent()).toBe('tags tokens');
    expect(await page.getByTestId('model-labels').textContent()).toBe('nlptext');
    expect(await page.getByTestId('model-notes').textContent()).toBe('A BERT fine-tune.');

    await page.getByRole('button', { name: 'Archive' }).click();
    await page.getByRole('button', { name: 'Unarchive' }).waitFor();
    await h1(BERT).getByText('archived').waitFor();
    expect(await page.getByRole('button', { name: 'Edit' }).isDisabled()).toBe(true);
    const setAlias = page.getByRole('form', { name: 'Set alias' }).getByRole('button');
    expect(await setAlias.isDisabled()).toBe(true);
    await page.getByRole('button', { name: 'Unarchive' }).click();
    await page.getByRole('button', { name: 'Archive' }).waitFor();

    // determined did not create admin's model: the master refuses, and the page says why.
    await page.goto(`/models/${ADMIN_MODEL}`);
    await h1(ADMIN_MODEL).waitFor();
    await page.getByRole('button', { name: 'Delete' }).click();
    const confirm = page.getByRole('group', { name: 'Confirm delete' });
    await confirm.getByRole('button', { name: 'Delete model' }).click();
    await poll(() => confirm.getByRole('alert').textContent()).toMatch(/access denied$/);
    await screenshot(page, 'model-delete-refused');

    // Its own model goes, and the list no longer has it.
    await page.goto('/models/fresh-model');
    await h1('fresh-model').waitFor();
    await page.getByRole('button', { name: 'Delete' }).click();
    await confirm.getByRole('button', { name: 'Delete model' }).click();
    await pathIs('/models');
    await page.goto('/models?name=fresh');
    await page.getByText('No models match.').waitFor();
  });

  it("edits a version's name and labels, which the table shows after a reload", async () => {
    await page.goto(`/models/${encodeURIComponent(RESNET)}`);
    await h1(RESNET).waitFor();
    const row = page.locator('#version-1');
    await row.getByRole('button', { name: 'Edit version 1', exact: true }).click();
    const form = page.getByRole('form', { name: 'Edit version 1', exact: true });
    const metadata = form.getByRole('textbox', { name: /^Metadata/ });
    // JSON the master would refuse is caught before anything is sent.
    await metadata.fill('{"lr": 0.1,}');
    await form.getByRole('button', { name: 'Save', exact: true }).click();
    await form.getByRole('alert').filter({ hasText: 'Metadata is not valid JSON' }).waitFor();

    await metadata.fill('{"lr": 0.1}');
    await form.getByRole('textbox', { name: 'Name', exact: true }).fill('baseline');
    await form.getByRole('textbox', { name: /^Labels/ }).fill('candidate, vision, candidate');
    await screenshot(page, 'model-version-edit');
    await form.getByRole('button', { name: 'Save', exact: true }).click();
    await form.waitFor({ state: 'detached' });
    const name = row.locator('td.version-name');
    await poll(() => name.textContent()).toBe('baseline');

    await page.reload();
    await h1(RESNET).waitFor();
    await poll(() => name.textContent()).toBe('baseline');
    expect(await row.locator('.label').allTextContents()).toEqual(['candidate', 'vision']);
    const res = await context.request.get(
      `/api/v1/models/${encodeURIComponent(RESNET)}/versions/1`,
    );
    expect(res.status()).toBe(200);
    const body = (await res.json()) as {
      modelVersion: { name: string; labels: string[]; metadata: unknown };
    };
    expect(body.modelVersion).toMatchObject({
      name: 'baseline',
      labels: ['candidate', 'vision'],
      metadata: { lr: 0.1 },
    });
  });

  it("renames a model, showing the master's refusals, and lands on its new page", async () => {
    const old = FILLERS.at(-1) ?? 'filler';
    const renamed = 'filler renamed';
    await page.goto(`/models/${old}`);
    await h1(old).waitFor();
    await page.getByRole('button', { name: 'Edit', exact: true }).click();
    const form = page.getByRole('form', { name: 'Edit model' });
    const name = form.getByRole('textbox', { name: 'Name', exact: true });
    const save = form.getByRole('button', { name: 'Save', exact: true });
    const alert = form.getByRole('alert');

    // Taken (409) and invalid (400): the master's own words, and the page stays.
    await name.fill(RESNET);
    await save.click();
    await poll(() => alert.textContent()).toBe(
      'avoid names equal to other models (case-sensitive)',
    );
    await name.fill('12345');
    await save.click();
    await poll(() => alert.textContent()).toMatch(/must not be all digits/);
    expect(new URL(page.url()).pathname).toBe(`/models/${old}`);

    await name.fill(renamed);
    await form.getByRole('textbox', { name: /^Metadata/ }).fill('{"batch": 7}');
    await save.click();
    await pathIs(`/models/${encodeURIComponent(renamed)}`);
    await h1(renamed).waitFor();
    await poll(() => page.getByTestId('model-metadata').textContent()).toContain('"batch": 7');
    await screenshot(page, 'model-renamed');

    // The old name is gone, and the list has the new one.
    await page.goto(`/models/${old}`);
    await page.getByText(`Model '${old}' does not exist.`).waitFor();
    await page.goto('/models?name=renamed');
    await poll(listedNames).toEqual([renamed]);
  });
});
