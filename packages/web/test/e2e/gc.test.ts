import { existsSync } from 'node:fs';
import { join } from 'node:path';

import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import type { Client } from '@determined-ts/sdk';

import {
  closeAll,
  expectNoPageErrors,
  launchChromium,
  openPage,
  poll,
  screenshot,
  signInByApi,
} from './browser.js';
import type { PageSession } from './browser.js';
import { seed, signIn } from './seed.js';
import type { Seed, SeededCheckpoint } from './seed.js';
import { startUiMaster } from './server.js';
import type { UiMaster } from './server.js';

/*
 * Checkpoint retention on the experiment page, in Debian's Chromium against the real master: the
 * sweep's twelve checkpoints (real files in directory storage, a validation at every step) are
 * previewed under another policy, which is then applied; the checkpoints it drops are deleted,
 * files and all, and exactly those.
 */

let master: UiMaster | undefined;
let browser: Browser | undefined;
let session: PageSession | undefined;
let page: Page;
let data: Seed;
let api: Client;

/** As the UI prints sizes: bytes under 1 KiB, else KiB with one decimal. */
function bytesText(n: number): string {
  return n < 1024 ? `${n} B` : `${(n / 1024).toFixed(1)} KiB`;
}

interface WireCheckpoint {
  uuid: string;
  state: string;
  resources: Record<string, string>;
}

async function getCheckpoint(uuid: string): Promise<WireCheckpoint> {
  const res = await api.request<{ checkpoint: WireCheckpoint }>(
    'GET',
    `/api/v1/checkpoints/${uuid}`,
  );
  return res.checkpoint;
}

async function sizeOf(uuid: string): Promise<number> {
  const c = await getCheckpoint(uuid);
  return Object.values(c.resources).reduce((sum, size) => sum + Number(size), 0);
}

beforeAll(async () => {
  browser = await launchChromium();
  master = await startUiMaster();
  data = await seed(master.url, master.storageDir);
  api = await signIn(master.url, 'determined');
  session = await openPage(browser, master.url);
  page = session.page;
  await signInByApi(session.context);
}, 90_000);

afterAll(() => closeAll(browser, master), 20_000);

afterEach(() => expectNoPageErrors(session));

describe('checkpoint retention in Chromium', () => {
  it('shows the storage used, previews a policy and applies it, deleting exactly what it said', async () => {
    const [trialA, trialB] = data.sweep.trials;
    if (trialA === undefined || trialB === undefined) {
      throw new Error('the sweep was seeded without two trials');
    }
    const all = [...trialA.checkpoints, ...trialB.checkpoints];
    expect(all).toHaveLength(12);
    const sizes = new Map<string, number>();
    for (const c of all) {
      sizes.set(c.uuid, await sizeOf(c.uuid));
    }
    const total = (cs: SeededCheckpoint[]) =>
      cs.reduce((sum, c) => sum + (sizes.get(c.uuid) ?? 0), 0);

    // The new policy: the experiment's best (trial A's, at step 400) and each trial's latest.
    const kept = [trialA.best, trialA.latest, trialB.latest];
    const keptIds = new Set(kept.map((c) => c.uuid));
    const dropped = all.filter((c) => !keptIds.has(c.uuid));
    expect(dropped).toHaveLength(9);

    await page.goto(`/experiments/${data.sweep.id}`);
    const section = page.getByRole('region', { name: 'Checkpoint storage' });
    await poll(() => section.getByTestId('storage-used').textContent()).toBe(
      `${bytesText(total(all))} in 12 checkpoints`,
    );
    expect(await section.getByTestId('current-policy').textContent()).toBe(
      'experiment best 0 · trial best 1 · trial latest 1',
    );
    // The defaults keep each trial's best and latest: four.
    await poll(() => section.getByTestId('current-keep').textContent()).toMatch(
      /^keeps 4 checkpoints \(.+\); applying it now would free .+ in 8 checkpoints$/,
    );

    await section.getByLabel('Experiment best').fill('1');
    await section.getByLabel('Trial best').fill('0');
    await section.getByLabel('Trial latest').fill('1');
    await section.getByRole('button', { name: 'Preview' }).click();
    const summary = section.getByTestId('gc-preview-summary');
    await poll(() => summary.textContent()).toBe(
      `experiment best 1 · trial best 0 · trial latest 1: would delete 9 checkpoints, freeing ` +
        `${bytesText(total(dropped))}; keeps 3 checkpoints (${bytesText(total(kept))}); ` +
        `applying it now would free ${bytesText(total(dropped))} in 9 checkpoints`,
    );
    const listed = await section
      .getByTestId('gc-delete-table')
      .locator('tbody tr')
      .evaluateAll((rows) =>
        rows.map((r) =>
          (r as unknown as { getAttribute(n: string): string }).getAttribute('data-uuid'),
        ),
      );
    expect(listed).toEqual(dropped.map((c) => c.uuid));
    // Trial A's step-100 checkpoint goes: its validation_loss (0.9) and its size are listed.
    const first = dropped[0];
    expect(first).toBeDefined();
    const firstRow = section.locator(`tr[data-uuid="${first?.uuid ?? ''}"]`);
    expect(await firstRow.locator('td').allTextContents()).toEqual([
      first?.uuid,
      `Trial ${trialA.id}`,
      '100',
      '0.9',
      bytesText(sizes.get(first?.uuid ?? '') ?? 0),
    ]);
    await screenshot(page, 'gc-preview');

    await section.getByRole('button', { name: 'Apply' }).click();
    const dialog = section.getByRole('alertdialog');
    expect(await dialog.textContent()).toContain(
      `delete 9 checkpoints (${bytesText(total(dropped))}) for good?`,
    );
    await dialog.getByRole('button', { name: 'Delete and save' }).click();
    await poll(() => section.getByTestId('gc-result').textContent()).toBe(
      `Policy saved: deleted 9 checkpoints, freed ${bytesText(total(dropped))}.`,
    );
    // Refreshed from the master.
    await poll(() => section.getByTestId('storage-used').textContent()).toBe(
      `${bytesText(total(kept))} in 3 checkpoints`,
    );
    await poll(() => section.getByTestId('current-policy').textContent()).toBe(
      'experiment best 1 · trial best 0 · trial latest 1',
    );
    await poll(() => section.getByTestId('current-keep').textContent()).toBe(
      `keeps 3 checkpoints (${bytesText(total(kept))})`,
    );
    await screenshot(page, 'gc-applied');

    // Exactly those are deleted, files and all; the others (and the other experiment) are not.
    for (const c of dropped) {
      expect((await getCheckpoint(c.uuid)).state, c.uuid).toBe('STATE_DELETED');
      expect(existsSync(join(master?.storageDir ?? '', c.uuid)), c.uuid).toBe(false);
    }
    for (const c of kept) {
      expect((await getCheckpoint(c.uuid)).state, c.uuid).toBe('STATE_COMPLETED');
      expect(existsSync(join(master?.storageDir ?? '', c.uuid)), c.uuid).toBe(true);
    }
    for (const c of data.baseline.trials.flatMap((t) => t.checkpoints)) {
      expect((await getCheckpoint(c.uuid)).state, c.uuid).toBe('STATE_COMPLETED');
    }
  });
});
