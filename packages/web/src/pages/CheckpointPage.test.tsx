import { fireEvent, screen, waitFor, within } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';

import type { JsonObject } from '@determined-ts/api';

import {
  apiError,
  checkpointDto,
  fakeMaster,
  modelDto,
  modelVersionDto,
  pagination,
  renderApp,
} from '../../test/helpers';
import type { Handler } from '../../test/helpers';

const UUID = 'aaaaaaaa-1111-2222-3333-444444444444';

/** The master, its checkpoint's experiment storing checkpoints with `checkpointStorage`. */
function checkpointMaster(checkpointStorage?: JsonObject) {
  return fakeMaster({
    [`GET /api/v1/checkpoints/${UUID}`]: () => ({
      checkpoint: checkpointDto(UUID, 400, { trialId: 7, searcherMetric: 0.25, checkpointStorage }),
    }),
    'GET /api/v1/checkpoints/missing': () => apiError('not_found', 'checkpoint missing not found'),
  });
}

describe('CheckpointPage', () => {
  afterEach(() => {
    vi.unstubAllGlobals();
  });

  it('shows the checkpoint, its files with a total, and the download link', async () => {
    renderApp(`/trials/7/checkpoints/${UUID}`, checkpointMaster());
    expect(
      await screen.findByRole('heading', { level: 1, name: `Checkpoint ${UUID}` }),
    ).toBeDefined();
    const files = screen.getByTestId('checkpoint-files');
    const rows = within(files).getAllByRole('row');
    // Header, two files (the directory entry is left out), total.
    expect(rows.map((r) => r.textContent)).toEqual([
      'PathSize',
      'model.json120 B',
      'weights.bin4.0 KiB',
      'Total: 2 files4.1 KiB',
    ]);
    const download = screen.getByRole('link', { name: 'Download' });
    expect(download.getAttribute('href')).toBe(`/checkpoints/${UUID}`);
    expect(download.hasAttribute('download')).toBe(true);
    expect(screen.getByRole('link', { name: 'tar.gz' }).getAttribute('href')).toBe(
      `/checkpoints/${UUID}?format=tar.gz`,
    );
    expect(screen.getByRole('link', { name: 'zip' }).getAttribute('href')).toBe(
      `/checkpoints/${UUID}?format=zip`,
    );
    // The searcher metric's value, in the details and in the validation metrics.
    const details = screen.getByRole('region', { name: 'Details' });
    expect(details.textContent).toContain('validation_loss0.25');
    expect(within(details).getByRole('link', { name: 'Trial 7' }).getAttribute('href')).toBe(
      '/trials/7',
    );
    const metrics = screen.getByRole('region', { name: 'Metrics' });
    expect(within(metrics).getByRole('table', { name: 'Validation' }).textContent).toBe(
      'Validationvalidation_loss0.25',
    );
  });

  // Each config carries the credentials its type takes; none may reach the page.
  it.each<[string, JsonObject, string]>([
    [
      's3',
      {
        type: 's3',
        bucket: 'ckpt-bucket',
        prefix: '/a//b/./c/',
        access_key: 'AKIA-ACCESS-KEY',
        secret_key: 'S3-SECRET-KEY',
        endpoint_url: 'https://minio.test:9000',
      },
      `s3://ckpt-bucket/a/b/c/${UUID}`,
    ],
    [
      's3 without a prefix',
      { type: 's3', bucket: 'ckpt-bucket', prefix: '/' },
      `s3://ckpt-bucket/${UUID}`,
    ],
    ['gcs', { type: 'gcs', bucket: 'gcs-bucket', prefix: 'runs' }, `gs://gcs-bucket/runs/${UUID}`],
    [
      'azure',
      { type: 'azure', container: 'models/runs/', connection_string: 'AccountKey=AZURE-CONN-KEY' },
      `azure://models/runs/${UUID}`,
    ],
    [
      'azure with an account URL',
      {
        type: 'azure',
        container: 'models',
        account_url: 'https://acct.blob.core.windows.net/',
        credential: 'AZURE-CREDENTIAL',
      },
      `https://acct.blob.core.windows.net/models/${UUID}`,
    ],
    ['directory', { type: 'directory', container_path: '/data/ckpts' }, `/data/ckpts/${UUID}`],
    [
      'shared_fs',
      { type: 'shared_fs', host_path: '/mnt/nfs', storage_path: 'det', secret_key: 'hunter2' },
      `/mnt/nfs/det/${UUID}`,
    ],
  ])(
    'shows where a %s checkpoint lives, without credentials, and downloads it from the master',
    async (_type, storage, location) => {
      renderApp(`/trials/7/checkpoints/${UUID}`, checkpointMaster(storage));
      const field = await screen.findByRole('textbox', { name: 'Location' });
      expect(field).toHaveProperty('value', location);
      expect(field).toHaveProperty('readOnly', true);
      expect(screen.getByTestId('checkpoint-location')).toBe(field);
      const metadata = screen.getByRole('region', { name: 'Metadata' });
      expect(within(metadata).getByLabelText('Location')).toBe(field);
      const page = document.body.innerHTML;
      for (const secret of [
        'AKIA-ACCESS-KEY',
        'S3-SECRET-KEY',
        'AZURE-CONN-KEY',
        'AZURE-CREDENTIAL',
        'hunter2',
      ]) {
        expect(page).not.toContain(secret);
      }
      // Wherever the files are, the download is the master's archive.
      expect(screen.getByRole('link', { name: 'Download' }).getAttribute('href')).toBe(
        `/checkpoints/${UUID}`,
      );
      expect(screen.getByRole('link', { name: 'zip' }).getAttribute('href')).toBe(
        `/checkpoints/${UUID}?format=zip`,
      );
    },
  );

  it('links each file to a URL the master signs, for checkpoints in an object store', async () => {
    const storage = { type: 'azure', container: 'models' };
    const expiresAt = '2026-12-07T13:15:00Z';
    const master = fakeMaster({
      [`GET /api/v1/checkpoints/${UUID}`]: () => ({
        checkpoint: checkpointDto(UUID, 400, { trialId: 7, checkpointStorage: storage }),
      }),
      [`GET /api/v1/checkpoints/${UUID}/download-urls`]: () => ({
        storageType: 'azure',
        location: `azure://models/${UUID}`,
        expiresAt,
        objects: [
          { path: 'model.json', size: '120', url: 'https://acct.test/models/m?sig=1' },
          { path: 'weights.bin', size: '4096', url: 'https://acct.test/models/w?sig=2' },
        ],
      }),
    });
    renderApp(`/trials/7/checkpoints/${UUID}`, master);
    const button = await screen.findByRole('button', { name: 'Direct links' });
    // Nothing is signed until asked for.
    expect(master.calls('GET', `/api/v1/checkpoints/${UUID}/download-urls`)).toEqual([]);
    expect(screen.queryByRole('link', { name: 'weights.bin' })).toBeNull();
    fireEvent.click(button);
    const weights = await screen.findByRole('link', { name: 'weights.bin' });
    expect(weights.getAttribute('href')).toBe('https://acct.test/models/w?sig=2');
    expect(screen.getByRole('link', { name: 'model.json' }).getAttribute('href')).toBe(
      'https://acct.test/models/m?sig=1',
    );
    expect(screen.getByRole('region', { name: 'Files' }).textContent).toContain(
      'Each path links to its file in azure until',
    );
    expect(screen.queryByRole('button', { name: 'Direct links' })).toBeNull();
  });

  it('says why when the master signs no URLs', async () => {
    const master = fakeMaster({
      [`GET /api/v1/checkpoints/${UUID}`]: () => ({
        checkpoint: checkpointDto(UUID, 400, {
          trialId: 7,
          checkpointStorage: { type: 'gcs', bucket: 'b' },
        }),
      }),
      [`GET /api/v1/checkpoints/${UUID}/download-urls`]: () =>
        apiError('invalid_argument', 'cannot sign URLs with these credentials'),
    });
    renderApp(`/trials/7/checkpoints/${UUID}`, master);
    fireEvent.click(await screen.findByRole('button', { name: 'Direct links' }));
    expect((await screen.findByRole('alert')).textContent).toContain(
      'cannot sign URLs with these credentials',
    );
    expect(screen.queryByRole('link', { name: 'weights.bin' })).toBeNull();
  });

  it('offers no direct links for local storage, whose files only the archive serves', async () => {
    renderApp(
      `/trials/7/checkpoints/${UUID}`,
      checkpointMaster({ type: 'directory', container_path: '/data' }),
    );
    await screen.findByTestId('checkpoint-location');
    expect(screen.queryByRole('button', { name: 'Direct links' })).toBeNull();
    expect(screen.getByTestId('checkpoint-files')).toBeDefined();
  });

  it('shows the shared_fs location of the default experiment without its secret', async () => {
    renderApp(`/trials/7/checkpoints/${UUID}`, checkpointMaster());
    expect(await screen.findByTestId('checkpoint-location')).toHaveProperty(
      'value',
      `/tmp/ckpt/${UUID}`,
    );
    expect(document.body.innerHTML).not.toContain('hunter2');
  });

  it('shows no location for a storage type it does not know, and the rest of the page', async () => {
    renderApp(
      `/trials/7/checkpoints/${UUID}`,
      checkpointMaster({ type: 'hdfs', hdfs_url: 'hdfs://namenode/ckpts' }),
    );
    expect(
      await screen.findByRole('heading', { level: 1, name: `Checkpoint ${UUID}` }),
    ).toBeDefined();
    expect(screen.queryByTestId('checkpoint-location')).toBeNull();
    expect(screen.queryByLabelText('Location')).toBeNull();
    expect(screen.getByRole('region', { name: 'Details' }).textContent).toContain('Storagehdfs');
    expect(screen.getByRole('link', { name: 'Download' }).getAttribute('href')).toBe(
      `/checkpoints/${UUID}`,
    );
    expect(screen.getByTestId('checkpoint-files')).toBeDefined();
  });

  it('copies the location to the clipboard and says so', async () => {
    const writeText = vi.fn(() => Promise.resolve());
    vi.stubGlobal('navigator', { ...navigator, clipboard: { writeText } });
    renderApp(
      `/trials/7/checkpoints/${UUID}`,
      checkpointMaster({ type: 's3', bucket: 'b', prefix: 'p' }),
    );
    fireEvent.click(await screen.findByRole('button', { name: 'Copy location' }));
    expect(await screen.findByRole('button', { name: 'Copied location' })).toBeDefined();
    expect(writeText).toHaveBeenCalledWith(`s3://b/p/${UUID}`);
  });

  it('gives SDK and CLI snippets for this checkpoint', async () => {
    renderApp(`/trials/7/checkpoints/${UUID}`, checkpointMaster());
    const sdk = await screen.findByTestId('sdk-snippet');
    expect(sdk.textContent).toContain('new TrialReference(7, ');
    expect(sdk.textContent).toContain(`.selectCheckpoint({ uuid: '${UUID}' })`);
    expect(sdk.textContent).toContain('.download()');
    expect(screen.getByTestId('cli-snippet').textContent).toContain(
      `det checkpoint download ${UUID}`,
    );
  });

  it('copies a snippet to the clipboard and says so', async () => {
    const writeText = vi.fn(() => Promise.resolve());
    vi.stubGlobal('navigator', { ...navigator, clipboard: { writeText } });
    renderApp(`/trials/7/checkpoints/${UUID}`, checkpointMaster());
    const cli = await screen.findByTestId('cli-snippet');
    const [, copyCli] = screen.getAllByRole('button', { name: 'Copy' });
    fireEvent.click(copyCli as HTMLElement);
    expect(await screen.findByRole('button', { name: 'Copied' })).toBeDefined();
    expect(writeText).toHaveBeenCalledWith(cli.textContent);
  });

  it('says when copying is not possible', async () => {
    vi.stubGlobal('navigator', { ...navigator, clipboard: undefined });
    renderApp(`/trials/7/checkpoints/${UUID}`, checkpointMaster());
    const [copy] = await screen.findAllByRole('button', { name: 'Copy' });
    fireEvent.click(copy as HTMLElement);
    expect((await screen.findByRole('status')).textContent).toContain('select the text');
  });

  it('says a checkpoint the master does not have does not exist', async () => {
    renderApp('/trials/7/checkpoints/missing', checkpointMaster());
    expect(await screen.findByRole('heading', { level: 1, name: 'Not found' })).toBeDefined();
    expect(screen.getByText('Checkpoint missing does not exist.')).toBeDefined();
  });

  it('does not show a checkpoint under a trial it does not belong to', async () => {
    renderApp(`/trials/8/checkpoints/${UUID}`, checkpointMaster());
    expect(await screen.findByRole('heading', { level: 1, name: 'Not found' })).toBeDefined();
    expect(screen.getByText(/does not exist in trial 8/)).toBeDefined();
    const link = screen.getByRole('link', { name: 'trial 7' });
    expect(link.getAttribute('href')).toBe(`/trials/7/checkpoints/${UUID}`);
  });

  it('refuses a malformed trial id', async () => {
    renderApp(`/trials/x1/checkpoints/${UUID}`, checkpointMaster());
    expect(await screen.findByText("'x1' is not a trial id.")).toBeDefined();
  });
});

describe('Register this checkpoint', () => {
  const existing = modelDto({ id: 3, name: 'resnet', numVersions: 1 });

  /** A master with one model, `resnet`, at version 1; `routes` add to or replace its routes. */
  function registryMaster(routes: Record<string, Handler> = {}) {
    return fakeMaster({
      [`GET /api/v1/checkpoints/${UUID}`]: () => ({
        checkpoint: checkpointDto(UUID, 400, { trialId: 7 }),
      }),
      'GET /api/v1/models': (url) => {
        const name = url.searchParams.get('name') ?? '';
        const models = [existing].filter((m) => m.name.includes(name));
        return { models, pagination: pagination(0, models.length, models.length) };
      },
      'GET /api/v1/models/resnet': () => ({ model: existing }),
      'GET /api/v1/models/new%20model': () => apiError('not_found', 'model "new model" not found'),
      'POST /api/v1/models': () => ({ model: modelDto({ id: 8, name: 'new model' }) }),
      'POST /api/v1/models/3/versions': () => ({
        modelVersion: modelVersionDto(existing, 2, UUID),
      }),
      'POST /api/v1/models/8/versions': () => ({
        modelVersion: modelVersionDto(modelDto({ id: 8, name: 'new model' }), 1, UUID),
      }),
      ...routes,
    });
  }

  const form = async () => screen.findByRole('form', { name: 'Register checkpoint' });

  it('adds a version to a model picked from the list', async () => {
    const master = registryMaster();
    renderApp(`/trials/7/checkpoints/${UUID}`, master);
    const f = await form();
    await waitFor(() =>
      expect(f.querySelector('datalist option')?.getAttribute('value')).toBe('resnet'),
    );
    fireEvent.change(within(f).getByRole('combobox', { name: 'Model' }), {
      target: { value: 'resnet' },
    });
    fireEvent.click(within(f).getByRole('button', { name: 'Register' }));
    const done = await screen.findByRole('status');
    expect(done.textContent).toBe('Registered as version 2 of resnet.');
    expect(within(done).getByRole('link').getAttribute('href')).toBe('/models/resnet#version-2');
    expect(master.calls('POST', '/api/v1/models')).toHaveLength(0);
    const post = master.requests.find((r) => r.url.pathname === '/api/v1/models/3/versions');
    expect(post?.body).toMatchObject({ checkpointUuid: UUID });
  });

  it('creates a model for a new name, then registers', async () => {
    const master = registryMaster();
    renderApp(`/trials/7/checkpoints/${UUID}`, master);
    const f = await form();
    fireEvent.change(within(f).getByRole('combobox', { name: 'Model' }), {
      target: { value: 'new model' },
    });
    expect((await screen.findByTestId('new-model-hint')).textContent).toContain('creates it');
    fireEvent.click(within(f).getByRole('button', { name: 'Register' }));
    const done = await screen.findByRole('status');
    expect(done.textContent).toBe('Registered as version 1 of new model (a new model).');
    expect(within(done).getByRole('link').getAttribute('href')).toBe(
      '/models/new%20model#version-1',
    );
    const created = master.requests.find(
      (r) => r.method === 'POST' && r.url.pathname === '/api/v1/models',
    );
    expect(created?.body).toMatchObject({ name: 'new model' });
  });

  it('refuses an all-digits name, which the master would read as a model id', async () => {
    const master = registryMaster();
    renderApp(`/trials/7/checkpoints/${UUID}`, master);
    const f = await form();
    fireEvent.change(within(f).getByRole('combobox', { name: 'Model' }), {
      target: { value: '3' },
    });
    fireEvent.click(within(f).getByRole('button', { name: 'Register' }));
    expect((await screen.findByRole('alert')).textContent).toBe(
      'A model name cannot be all digits.',
    );
    expect(master.requests.filter((r) => r.method === 'POST')).toHaveLength(0);
  });

  it("shows the master's refusal", async () => {
    const message = 'model "resnet" is archived and cannot register new versions';
    const master = registryMaster({
      'POST /api/v1/models/3/versions': () => apiError('failed_precondition', message),
    });
    renderApp(`/trials/7/checkpoints/${UUID}`, master);
    const f = await form();
    fireEvent.change(within(f).getByRole('combobox', { name: 'Model' }), {
      target: { value: 'resnet' },
    });
    fireEvent.click(within(f).getByRole('button', { name: 'Register' }));
    expect((await screen.findByRole('alert')).textContent).toBe(message);
  });
});
