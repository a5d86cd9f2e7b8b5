import { act, fireEvent, screen, waitFor, within } from '@testing-library/react';
import { describe, expect, it, vi } from 'vitest';

import {
  currentParams,
  experimentDto,
  fakeMaster,
  pagination,
  renderApp,
} from '../../test/helpers';

const TOTAL = 10_000;

/** A master with 10,000 experiments that answers any page it is asked for. */
function manyExperiments() {
  return fakeMaster({
    'GET /api/v1/experiments': (url) => {
      const offset = Number(url.searchParams.get('offset') ?? 0);
      const limit = Number(url.searchParams.get('limit') ?? 0);
      const rows = Math.max(0, Math.min(limit, TOTAL - offset));
      return {
        experiments: Array.from({ length: rows }, (_, i) =>
          experimentDto({ id: TOTAL - offset - i, name: `exp-${TOTAL - offset - i}` }),
        ),
        pagination: pagination(offset, rows, TOTAL),
      };
    },
  });
}

const lastQuery = (master: ReturnType<typeof fakeMaster>) =>
  master.calls('GET', '/api/v1/experiments').at(-1)?.searchParams;

const rows = () => within(screen.getByTestId('experiments-table')).queryAllByRole('row').slice(1);

describe('ExperimentsPage', () => {
  it('asks the master for one page, newest first, and shows its range', async () => {
    const master = manyExperiments();
    renderApp('/experiments', master);
    expect(await screen.findByRole('heading', { level: 1, name: 'Experiments' })).toBeDefined();
    await waitFor(() => expect(rows()).toHaveLength(20));
    expect(screen.getByTestId('pager-range').textContent).toBe('1–20 of 10,000');
    const q = lastQuery(master);
    expect(q?.get('offset')).toBe('0');
    expect(q?.get('limit')).toBe('20');
    expect(q?.get('sortBy')).toBe('SORT_BY_ID');
    expect(q?.get('orderBy')).toBe('ORDER_BY_DESC');
    const link = within(rows()[0] as HTMLElement).getByRole('link', { name: 'exp-10000' });
    expect(link.getAttribute('href')).toBe('/experiments/10000');
    expect(screen.getByRole<HTMLButtonElement>('button', { name: 'Previous' }).disabled).toBe(true);
  });

  it('sorts on the server from the column headers, and keeps the sort in the URL', async () => {
    const master = manyExperiments();
    const result = renderApp('/experiments?page=3', master);
    await waitFor(() => expect(rows()).toHaveLength(20));
    const table = screen.getByTestId('experiments-table');
    for (const name of [
      'ID',
      'Name',
      'State',
      'Trials',
      'Searcher metric',
      'Best',
      'Checkpoints',
      'Size',
      'Started',
    ]) {
      expect(within(table).getByRole('button', { name })).toBeDefined();
    }

    fireEvent.click(within(table).getByRole('button', { name: 'Name' }));
    await waitFor(() => expect(currentParams(result).toString()).toBe('sort=name&order=asc'));
    await waitFor(() => expect(lastQuery(master)?.get('sortBy')).toBe('SORT_BY_NAME'));
    expect(lastQuery(master)?.get('orderBy')).toBe('ORDER_BY_ASC');
    expect(lastQuery(master)?.get('offset')).toBe('0');
    const header = within(table).getByRole('button', { name: 'Name' }).closest('th');
    expect(header?.getAttribute('aria-sort')).toBe('ascending');

    fireEvent.click(within(table).getByRole('button', { name: 'Name' }));
    await waitFor(() => expect(currentParams(result).get('order')).toBe('desc'));
    await waitFor(() => expect(lastQuery(master)?.get('orderBy')).toBe('ORDER_BY_DESC'));

    fireEvent.click(within(table).getByRole('button', { name: 'Size' }));
    await waitFor(() => expect(lastQuery(master)?.get('sortBy')).toBe('SORT_BY_CHECKPOINT_SIZE'));
    expect(currentParams(result).get('order')).toBe('desc');
  });

  it('pages with Next and Previous through the URL', async () => {
    const master = manyExperiments();
    const result = renderApp('/experiments?sort=name&order=asc', master);
    await waitFor(() => expect(rows()).toHaveLength(20));
    fireEvent.click(screen.getByRole('button', { name: 'Next' }));
    await waitFor(() => expect(currentParams(result).get('page')).toBe('2'));
    await waitFor(() =>
      expect(screen.getByTestId('pager-range').textContent).toBe('21–40 of 10,000'),
    );
    expect(lastQuery(master)?.get('offset')).toBe('20');
    expect(lastQuery(master)?.get('sortBy')).toBe('SORT_BY_NAME');
    fireEvent.click(screen.getByRole('button', { name: 'Previous' }));
    await waitFor(() => expect(currentParams(result).get('page')).toBeNull());
  });

  it('starts on the page the URL names', async () => {
    const master = manyExperiments();
    renderApp('/experiments?page=500', master);
    await waitFor(() =>
      expect(screen.getByTestId('pager-range').textContent).toBe('9,981–10,000 of 10,000'),
    );
    expect(lastQuery(master)?.get('offset')).toBe('9980');
    expect(screen.getByRole<HTMLButtonElement>('button', { name: 'Next' }).disabled).toBe(true);
  });

  it('filters by name once typing pauses, and by state at once, back on page 1', async () => {
    vi.useFakeTimers({ shouldAdvanceTime: true });
    try {
      const master = manyExperiments();
      const result = renderApp('/experiments?page=2', master);
      const input = await screen.findByLabelText('Filter by name');
      fireEvent.change(input, { target: { value: 'cif' } });
      fireEvent.change(input, { target: { value: 'cifar' } });
      expect(currentParams(result).get('name')).toBeNull();
      await act(() => vi.advanceTimersByTimeAsync(400));
      await waitFor(() => expect(currentParams(result).get('name')).toBe('cifar'));
      expect(currentParams(result).get('page')).toBeNull();
      await waitFor(() => expect(lastQuery(master)?.get('name')).toBe('cifar'));
      // Typing pauses once: one request for the final text, none for "cif".
      expect(
        master
          .calls('GET', '/api/v1/experiments')
          .filter((u) => u.searchParams.get('name') === 'cif'),
      ).toEqual([]);

      fireEvent.change(screen.getByLabelText('State'), { target: { value: 'ACTIVE' } });
      await waitFor(() => expect(currentParams(result).get('state')).toBe('ACTIVE'));
      await waitFor(() => expect(lastQuery(master)?.getAll('states')).toEqual(['STATE_ACTIVE']));
      expect(lastQuery(master)?.get('name')).toBe('cifar');
    } finally {
      vi.useRealTimers();
    }
  });

  it('says so when nothing matches', async () => {
    const master = fakeMaster({
      'GET /api/v1/experiments': () => ({ experiments: [], pagination: pagination(0, 0, 0) }),
    });
    renderApp('/experiments?name=zzz', master);
    expect(await screen.findByText('No experiments match.')).toBeDefined();
    expect(screen.getByTestId('pager-range').textContent).toBe('0 of 0');
    expect(screen.getByLabelText<HTMLInputElement>('Filter by name').value).toBe('zzz');
  });
});
