import { fireEvent, screen, waitFor, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';

import type { ModelDto, ModelVersionDto } from '@determined-ts/api';

import {
  apiError,
  currentPath,
  fakeMaster,
  masterInfoRoute,
  modelAliasDto,
  modelAliasEventDto,
  modelDto,
  modelVersionDto,
  pagination,
  renderApp,
} from '../../test/helpers';
import type { Handler } from '../../test/helpers';

const NAME = '50% resnet';
const ENCODED = '50%25%20resnet';
const UUID_1 = 'aaaaaaaa-1111-2222-3333-444444444444';
const UUID_2 = 'bbbbbbbb-1111-2222-3333-444444444444';

const MODEL: ModelDto = modelDto({
  id: 4,
  name: NAME,
  description: 'image classifier',
  notes: 'Trained on **ImageNet**.',
  metadata: { team: 'vision' },
  labels: ['prod', 'resnet'],
  numVersions: 2,
});

/** A master with MODEL, its two versions and one alias; `routes` add to or replace them. */
function modelMaster(routes: Record<string, Handler> = {}) {
  return fakeMaster({
    ...masterInfoRoute,
    [`GET /api/v1/models/${ENCODED}`]: () => ({ model: MODEL }),
    'GET /api/v1/models/4/versions': (url) => ({
      model: MODEL,
      modelVersions: [
        modelVersionDto(MODEL, 2, UUID_2, { aliases: ['production'], name: 'second' }),
        modelVersionDto(MODEL, 1, UUID_1, { username: 'admin' }),
      ].slice(Number(url.searchParams.get('offset') ?? 0)),
      pagination: pagination(0, 2, 2),
    }),
    'GET /api/v1/models/4/aliases': () => ({ aliases: [modelAliasDto('production', 2)] }),
    'GET /api/v1/models/4/alias-history': () => ({
      events: [
        modelAliasEventDto(2, 'production', 1, 2),
        modelAliasEventDto(1, 'production', null, 1),
      ],
      pagination: pagination(0, 2, 2),
    }),
    ...routes,
  });
}

const versionRows = () =>
  within(screen.getByTestId('versions-table')).queryAllByRole('row').slice(1);

describe('ModelPage', () => {
  it('shows the model, its versions linking to their checkpoints, and its aliases', async () => {
    const master = modelMaster();
    renderApp(`/models/${ENCODED}`, master);
    expect(await screen.findByRole('heading', { level: 1, name: NAME })).toBeDefined();
    expect(master.calls('GET', `/api/v1/models/${ENCODED}`)).toHaveLength(1);
    expect(screen.getByTestId('model-description').textContent).toBe('image classifier');
    expect(screen.getByTestId('model-labels').textContent).toBe('prodresnet');
    expect(screen.getByTestId('model-notes').textContent).toBe('Trained on **ImageNet**.');
    expect(screen.getByTestId('model-metadata').textContent).toContain('"team": "vision"');
    expect(screen.getByRole('region', { name: 'About' }).textContent).toContain('Uncategorized');

    await waitFor(() => expect(versionRows()).toHaveLength(2));
    const v2 = versionRows()[0] as HTMLElement;
    expect(v2.id).toBe('version-2');
    expect(v2.textContent).toContain('second');
    expect(v2.textContent).toContain('production');
    expect(within(v2).getByRole('link', { name: UUID_2 }).getAttribute('href')).toBe(
      `/trials/7/checkpoints/${UUID_2}`,
    );
    expect(within(v2).getByRole('link', { name: 'Trial 7' }).getAttribute('href')).toBe(
      '/trials/7',
    );
    const download = within(v2).getByRole('link', { name: 'Download version 2' });
    expect(download.getAttribute('href')).toBe(`/checkpoints/${UUID_2}`);
    expect(download.hasAttribute('download')).toBe(true);
    expect((versionRows()[1] as HTMLElement).textContent).toContain('admin');
    const versionsQuery = master.calls('GET', '/api/v1/models/4/versions').at(-1)?.searchParams;
    expect(versionsQuery?.get('sortBy')).toBe('SORT_BY_VERSION');
    expect(versionsQuery?.get('orderBy')).toBe('ORDER_BY_DESC');

    const aliases = screen.getByTestId('aliases-table');
    await waitFor(() => expect(within(aliases).queryAllByRole('row')).toHaveLength(2));
    expect(within(aliases).getByRole('link', { name: 'v2' }).getAttribute('href')).toBe(
      `/models/${ENCODED}#version-2`,
    );
    const history = screen.getByTestId('alias-history-table');
    await waitFor(() =>
      expect(
        within(history)
          .queryAllByRole('row')
          .slice(1)
          .map((r) => r.textContent),
      ).toEqual([
        expect.stringContaining('productionmoved v1 → v2determined'),
        expect.stringContaining('productionset to v1determined'),
      ]),
    );
  });

  it('says so when the model does not exist', async () => {
    renderApp('/models/nope', modelMaster());
    expect(await screen.findByRole('heading', { level: 1, name: 'Not found' })).toBeDefined();
    expect(screen.getByText("Model 'nope' does not exist.")).toBeDefined();
    expect(screen.getByRole('link', { name: 'Back to the models' }).getAttribute('href')).toBe(
      '/models',
    );
  });

  it('saves only the fields that changed', async () => {
    const master = modelMaster({ 'PATCH /api/v1/models/4': () => ({ model: MODEL }) });
    renderApp(`/models/${ENCODED}`, master);
    fireEvent.click(await screen.findByRole('button', { name: 'Edit' }));
    const form = screen.getByRole('form', { name: 'Edit model' });
    fireEvent.change(within(form).getByRole('textbox', { name: /^Labels/ }), {
      target: { value: 'prod, staging, prod' },
    });
    fireEvent.change(within(form).getByRole('textbox', { name: 'Notes' }), {
      target: { value: 'New notes' },
    });
    fireEvent.click(within(form).getByRole('button', { name: 'Save' }));
    await waitFor(() => expect(screen.queryByRole('form', { name: 'Edit model' })).toBeNull());
    const patch = master.requests.filter((r) => r.method === 'PATCH');
    expect(patch.map((r) => r.body)).toEqual([{ labels: ['prod', 'staging'], notes: 'New notes' }]);
  });

  it("shows the master's refusal to delete, after a confirmation", async () => {
    const denied = "non-admin users may not delete other users' models access denied";
    const master = modelMaster({
      'DELETE /api/v1/models/4': () => apiError('permission_denied', denied),
    });
    renderApp(`/models/${ENCODED}`, master);
    fireEvent.click(await screen.findByRole('button', { name: 'Delete' }));
    const confirm = screen.getByRole('group', { name: 'Confirm delete' });
    expect(confirm.textContent).toContain(`Delete model ${NAME} and its 2 versions?`);
    expect(master.calls('DELETE', '/api/v1/models/4')).toHaveLength(0);
    fireEvent.click(within(confirm).getByRole('button', { name: 'Delete model' }));
    expect((await within(confirm).findByRole('alert')).textContent).toBe(denied);
  });

  it('goes back to the models once deleted', async () => {
    const master = modelMaster({ 'DELETE /api/v1/models/4': () => ({}) });
    const result = renderApp(`/models/${ENCODED}`, master);
    fireEvent.click(await screen.findByRole('button', { name: 'Delete' }));
    fireEvent.click(screen.getByRole('button', { name: 'Delete model' }));
    await waitFor(() => expect(currentPath(result)).toBe('/models'));
    expect(master.calls('DELETE', '/api/v1/models/4')).toHaveLength(1);
  });

  it('archives the model', async () => {
    const master = modelMaster({ 'POST /api/v1/models/4/archive': () => ({}) });
    renderApp(`/models/${ENCODED}`, master);
    fireEvent.click(await screen.findByRole('button', { name: 'Archive' }));
    await waitFor(() => expect(master.calls('POST', '/api/v1/models/4/archive')).toHaveLength(1));
  });

  it('sets an alias, checking its name first', async () => {
    const master = modelMaster({
      'PUT /api/v1/models/4/aliases/staging': () => ({ alias: modelAliasDto('staging', 1) }),
      'PUT /api/v1/models/4/aliases/canary': () => apiError('not_found', 'version 9 not found'),
    });
    renderApp(`/models/${ENCODED}`, master);
    const form = await screen.findByRole('form', { name: 'Set alias' });
    const alias = within(form).getByRole('textbox', { name: 'Alias' });
    const version = within(form).getByRole('textbox', { name: 'Version' });
    const submit = within(form).getByRole('button', { name: 'Set alias' });

    fireEvent.change(alias, { target: { value: 'latest' } });
    fireEvent.change(version, { target: { value: '1' } });
    fireEvent.click(submit);
    expect((await screen.findByRole('alert')).textContent).toMatch(/reserved/);

    fireEvent.change(alias, { target: { value: 'canary' } });
    fireEvent.change(version, { target: { value: '9' } });
    fireEvent.click(submit);
    expect((await screen.findByRole('alert')).textContent).toBe('version 9 not found');

    fireEvent.change(alias, { target: { value: 'staging' } });
    fireEvent.change(version, { target: { value: '1' } });
    fireEvent.click(submit);
    await waitFor(() => expect((alias as HTMLInputElement).value).toBe(''));
    const puts = master.requests.filter((r) => r.method === 'PUT');
    expect(puts.map((r) => [r.url.pathname, r.body])).toEqual([
      ['/api/v1/models/4/aliases/canary', { version: 9 }],
      ['/api/v1/models/4/aliases/staging', { version: 1 }],
    ]);
  });

  it('removes an alias', async () => {
    const master = modelMaster({ 'DELETE /api/v1/models/4/aliases/production': () => ({}) });
    renderApp(`/models/${ENCODED}`, master);
    fireEvent.click(await screen.findByRole('button', { name: 'Remove production' }));
    await waitFor(() =>
      expect(master.calls('DELETE', '/api/v1/models/4/aliases/production')).toHaveLength(1),
    );
  });
});

describe('ModelEditForm', () => {
  const RENAMED = 'resnet v2';

  it('renames the model and replaces its metadata, then moves to its new URL', async () => {
    const renamed = { ...MODEL, name: RENAMED, metadata: { team: 'vision', stage: 2 } };
    const master = modelMaster({
      'PATCH /api/v1/models/4': () => ({ model: renamed }),
      'GET /api/v1/models/resnet%20v2': () => ({ model: renamed }),
    });
    const result = renderApp(`/models/${ENCODED}`, master);
    fireEvent.click(await screen.findByRole('button', { name: 'Edit' }));
    const form = screen.getByRole('form', { name: 'Edit model' });
    const name = within(form).getByRole('textbox', { name: 'Name' });
    const metadata = within(form).getByRole('textbox', { name: /^Metadata/ });
    expect((name as HTMLInputElement).value).toBe(NAME);
    expect(JSON.parse((metadata as HTMLTextAreaElement).value)).toEqual({ team: 'vision' });
    fireEvent.change(name, { target: { value: RENAMED } });
    fireEvent.change(metadata, { target: { value: '{"stage": 2, "team": "vision"}' } });
    fireEvent.click(within(form).getByRole('button', { name: 'Save' }));

    await waitFor(() => expect(currentPath(result)).toBe('/models/resnet%20v2'));
    expect(await screen.findByRole('heading', { level: 1, name: RENAMED })).toBeDefined();
    expect(screen.queryByRole('form', { name: 'Edit model' })).toBeNull();
    const patch = master.requests.filter((r) => r.method === 'PATCH');
    expect(patch.map((r) => [r.url.pathname, r.body])).toEqual([
      ['/api/v1/models/4', { name: RENAMED, metadata: { stage: 2, team: 'vision' } }],
    ]);
  });

  it("shows the master's refusal of a taken name, and stays", async () => {
    const taken = 'avoid names equal to other models (case-sensitive)';
    const master = modelMaster({
      'PATCH /api/v1/models/4': () => apiError('already_exists', taken),
    });
    const result = renderApp(`/models/${ENCODED}`, master);
    fireEvent.click(await screen.findByRole('button', { name: 'Edit' }));
    const form = screen.getByRole('form', { name: 'Edit model' });
    fireEvent.change(within(form).getByRole('textbox', { name: 'Name' }), {
      target: { value: 'bert' },
    });
    fireEvent.click(within(form).getByRole('button', { name: 'Save' }));
    expect((await within(form).findByRole('alert')).textContent).toBe(taken);
    expect(currentPath(result)).toBe(`/models/${ENCODED}`);
    expect(master.calls('PATCH', '/api/v1/models/4')).toHaveLength(1);
  });

  it('refuses metadata that is not a JSON object, sending nothing', async () => {
    const master = modelMaster({ 'PATCH /api/v1/models/4': () => ({ model: MODEL }) });
    renderApp(`/models/${ENCODED}`, master);
    fireEvent.click(await screen.findByRole('button', { name: 'Edit' }));
    const form = screen.getByRole('form', { name: 'Edit model' });
    const metadata = within(form).getByRole('textbox', { name: /^Metadata/ });
    fireEvent.change(metadata, { target: { value: '{team: vision}' } });
    fireEvent.click(within(form).getByRole('button', { name: 'Save' }));
    expect((await within(form).findByRole('alert')).textContent).toMatch(
      /^Metadata is not valid JSON: /,
    );
    fireEvent.change(metadata, { target: { value: '["vision"]' } });
    fireEvent.click(within(form).getByRole('button', { name: 'Save' }));
    await waitFor(() =>
      expect(within(form).getByRole('alert').textContent).toMatch(/must be a JSON object/),
    );
    expect(master.requests.filter((r) => r.method === 'PATCH')).toEqual([]);
  });
});

describe('ModelVersionEditForm', () => {
  /** MODEL's master whose version 2 takes patches, and shows them on the next read. */
  function editableMaster(model: ModelDto = MODEL) {
    let v2 = modelVersionDto(model, 2, UUID_2, {
      aliases: ['production'],
      name: 'second',
      labels: ['candidate'],
      metadata: { lr: 0.01 },
    });
    return modelMaster({
      [`GET /api/v1/models/${ENCODED}`]: () => ({ model }),
      'GET /api/v1/models/4/versions': () => ({
        model,
        modelVersions: [v2, modelVersionDto(model, 1, UUID_1)],
        pagination: pagination(0, 2, 2),
      }),
      'PATCH /api/v1/models/4/versions/2': (_url, init) => {
        const body = typeof init?.body === 'string' ? init.body : '{}';
        v2 = { ...v2, ...(JSON.parse(body) as Partial<ModelVersionDto>) };
        return { modelVersion: v2 };
      },
    });
  }

  const openEditor = async (version: number) => {
    fireEvent.click(await screen.findByRole('button', { name: `Edit version ${version}` }));
    return screen.getByRole('form', { name: `Edit version ${version}` });
  };

  it('edits a version, sending only the fields that changed', async () => {
    const master = editableMaster();
    renderApp(`/models/${ENCODED}`, master);
    const form = await openEditor(2);
    const name = within(form).getByRole('textbox', { name: 'Name' });
    const labels = within(form).getByRole('textbox', { name: /^Labels/ });
    expect((name as HTMLInputElement).value).toBe('second');
    expect((labels as HTMLInputElement).value).toBe('candidate');
    fireEvent.change(name, { target: { value: 'champion' } });
    fireEvent.change(within(form).getByRole('textbox', { name: 'Comment' }), {
      target: { value: 'best so far' },
    });
    fireEvent.change(labels, { target: { value: 'candidate, prod, candidate' } });
    fireEvent.click(within(form).getByRole('button', { name: 'Save' }));

    await waitFor(() => expect(screen.queryByRole('form', { name: 'Edit version 2' })).toBeNull());
    const patch = master.requests.filter((r) => r.method === 'PATCH');
    expect(patch.map((r) => [r.url.pathname, r.body])).toEqual([
      [
        '/api/v1/models/4/versions/2',
        { name: 'champion', comment: 'best so far', labels: ['candidate', 'prod'] },
      ],
    ]);
    await waitFor(() => expect(versionRows()[0]?.textContent).toContain('champion'));
    const row = versionRows()[0] as HTMLElement;
    expect(row.textContent).toContain('best so far');
    expect(row.textContent).toContain('candidateprod');
  });

  it('refuses metadata that is not valid JSON, sending nothing', async () => {
    const master = editableMaster();
    renderApp(`/models/${ENCODED}`, master);
    const form = await openEditor(2);
    const metadata = within(form).getByRole('textbox', { name: /^Metadata/ });
    expect(JSON.parse((metadata as HTMLTextAreaElement).value)).toEqual({ lr: 0.01 });
    fireEvent.change(metadata, { target: { value: '{"lr": 0.02,}' } });
    fireEvent.click(within(form).getByRole('button', { name: 'Save' }));
    expect((await within(form).findByRole('alert')).textContent).toMatch(
      /^Metadata is not valid JSON: /,
    );
    expect(master.requests.filter((r) => r.method === 'PATCH')).toEqual([]);

    fireEvent.change(metadata, { target: { value: '{"lr": 0.02}' } });
    fireEvent.click(within(form).getByRole('button', { name: 'Save' }));
    await waitFor(() => expect(screen.queryByRole('form', { name: 'Edit version 2' })).toBeNull());
    expect(master.requests.filter((r) => r.method === 'PATCH').map((r) => r.body)).toEqual([
      { metadata: { lr: 0.02 } },
    ]);
  });

  it("shows the master's refusal and keeps the editor open", async () => {
    const gone = `version 2 for model "${NAME}" not found`;
    const master = modelMaster({
      'PATCH /api/v1/models/4/versions/2': () => apiError('not_found', gone),
    });
    renderApp(`/models/${ENCODED}`, master);
    const form = await openEditor(2);
    fireEvent.change(within(form).getByRole('textbox', { name: 'Name' }), {
      target: { value: 'champion' },
    });
    fireEvent.click(within(form).getByRole('button', { name: 'Save' }));
    expect((await within(form).findByRole('alert')).textContent).toBe(gone);
    expect(screen.getByRole('form', { name: 'Edit version 2' })).toBeDefined();
  });

  it('edits the versions of an archived model, as the master allows', async () => {
    const master = editableMaster({ ...MODEL, archived: true });
    renderApp(`/models/${ENCODED}`, master);
    expect(await screen.findByRole('button', { name: 'Edit' })).toHaveProperty('disabled', true);
    const form = await openEditor(2);
    fireEvent.change(within(form).getByRole('textbox', { name: 'Notes' }), {
      target: { value: 'Kept for the audit.' },
    });
    fireEvent.click(within(form).getByRole('button', { name: 'Save' }));
    await waitFor(() =>
      expect(master.calls('PATCH', '/api/v1/models/4/versions/2')).toHaveLength(1),
    );
    expect(master.requests.find((r) => r.method === 'PATCH')?.body).toEqual({
      notes: 'Kept for the audit.',
    });
  });
});
