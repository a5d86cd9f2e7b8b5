import { fireEvent, screen, waitFor, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';

import {
  currentParams,
  fakeMaster,
  modelDto,
  pagination,
  renderApp,
  userDto,
} from '../../test/helpers';

const TOTAL = 45;

/** A master with 45 models that answers any page it is asked for, ignoring the filters. */
function manyModels() {
  return fakeMaster({
    'GET /api/v1/models': (url) => {
      const offset = Number(url.searchParams.get('offset') ?? 0);
      const limit = Number(url.searchParams.get('limit') ?? 0);
      const rows = Math.max(0, Math.min(limit, TOTAL - offset));
      return {
        models: Array.from({ length: rows }, (_, i) => {
          const id = offset + i + 1;
          return modelDto({
            id,
            name: `model ${id}`,
            description: id === 1 ? 'the first one' : '',
            labels: id === 1 ? ['prod', 'vision'] : [],
            numVersions: id,
            archived: id === 2,
          });
        }),
        pagination: pagination(offset, rows, TOTAL),
      };
    },
    'GET /api/v1/model/labels': () => ({ labels: ['prod', 'vision'] }),
    'GET /api/v1/users': () => ({
      users: [userDto({ id: 2, username: 'determined' }), userDto({ id: 1, username: 'admin' })],
      pagination: pagination(0, 2, 2),
    }),
  });
}

const lastQuery = (master: ReturnType<typeof fakeMaster>) =>
  master.calls('GET', '/api/v1/models').at(-1)?.searchParams;

const rows = () => within(screen.getByTestId('models-table')).queryAllByRole('row').slice(1);

describe('ModelsPage', () => {
  it('asks for one page, last updated first, archived models hidden', async () => {
    const master = manyModels();
    renderApp('/models', master);
    expect(await screen.findByRole('heading', { level: 1, name: 'Models' })).toBeDefined();
    await waitFor(() => expect(rows()).toHaveLength(20));
    expect(screen.getByTestId('pager-range').textContent).toBe('1–20 of 45');
    const q = lastQuery(master);
    expect(q?.get('offset')).toBe('0');
    expect(q?.get('limit')).toBe('20');
    expect(q?.get('sortBy')).toBe('SORT_BY_LAST_UPDATED_TIME');
    expect(q?.get('orderBy')).toBe('ORDER_BY_DESC');
    expect(q?.get('archived')).toBe('false');

    const first = rows()[0] as HTMLElement;
    expect(within(first).getByRole('link', { name: 'model 1' }).getAttribute('href')).toBe(
      '/models/model%201',
    );
    expect(first.textContent).toContain('the first one');
    expect(first.textContent).toContain('prodvision');
    expect((rows()[1] as HTMLElement).textContent).toContain('archived');
    // The navigation marks where we are.
    const nav = screen.getByRole('navigation', { name: 'Main' });
    expect(within(nav).getByRole('link', { name: 'Models' }).className).toContain('active');
  });

  it('sorts on the server from the column headers and pages', async () => {
    const master = manyModels();
    const result = renderApp('/models', master);
    await waitFor(() => expect(rows()).toHaveLength(20));
    const table = screen.getByTestId('models-table');
    fireEvent.click(within(table).getByRole('button', { name: 'Name' }));
    await waitFor(() => expect(currentParams(result).toString()).toBe('sort=name&order=asc'));
    await waitFor(() => expect(lastQuery(master)?.get('sortBy')).toBe('SORT_BY_NAME'));
    expect(lastQuery(master)?.get('orderBy')).toBe('ORDER_BY_ASC');
    fireEvent.click(within(table).getByRole('button', { name: 'Versions' }));
    await waitFor(() => expect(lastQuery(master)?.get('sortBy')).toBe('SORT_BY_NUM_VERSIONS'));
    expect(lastQuery(master)?.get('orderBy')).toBe('ORDER_BY_DESC');

    fireEvent.click(screen.getByRole('button', { name: 'Next' }));
    await waitFor(() => expect(lastQuery(master)?.get('offset')).toBe('20'));
    await waitFor(() => expect(screen.getByTestId('pager-range').textContent).toBe('21–40 of 45'));
    expect(currentParams(result).get('page')).toBe('2');
  });

  it('filters by label, owner and archived state, from pickers the master fills', async () => {
    const master = manyModels();
    const result = renderApp('/models?page=2', master);
    await waitFor(() => expect(rows()).toHaveLength(20));
    const label = await screen.findByRole('combobox', { name: 'Label' });
    await waitFor(() => expect(within(label).getAllByRole('option')).toHaveLength(3));
    fireEvent.change(label, { target: { value: 'vision' } });
    await waitFor(() => expect(lastQuery(master)?.getAll('labels')).toEqual(['vision']));
    expect(currentParams(result).toString()).toBe('label=vision');

    const owner = screen.getByRole('combobox', { name: 'Owner' });
    await waitFor(() =>
      expect(
        within(owner)
          .getAllByRole('option')
          .map((o) => o.textContent),
      ).toEqual(['All owners', 'admin', 'determined']),
    );
    fireEvent.change(owner, { target: { value: 'admin' } });
    await waitFor(() => expect(lastQuery(master)?.getAll('users')).toEqual(['admin']));

    const archived = screen.getByRole('combobox', { name: 'Archived' });
    fireEvent.change(archived, { target: { value: 'only' } });
    await waitFor(() => expect(lastQuery(master)?.get('archived')).toBe('true'));
    fireEvent.change(archived, { target: { value: 'show' } });
    await waitFor(() => expect(lastQuery(master)?.has('archived')).toBe(false));
    expect(currentParams(result).get('archived')).toBe('show');
  });

  it('filters by name as the user types', async () => {
    const master = manyModels();
    const result = renderApp('/models', master);
    await waitFor(() => expect(rows()).toHaveLength(20));
    fireEvent.change(screen.getByRole('searchbox', { name: 'Filter by name' }), {
      target: { value: 'resnet' },
    });
    await waitFor(() => expect(lastQuery(master)?.get('name')).toBe('resnet'));
    expect(currentParams(result).get('name')).toBe('resnet');
  });
});
