import { fireEvent, screen, waitFor, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';

import type { CheckpointMarkerDto, DataPointDto } from '@determined-ts/api';

import {
  apiError,
  checkpointDto,
  currentPath,
  currentParams,
  experimentDto,
  fakeMaster,
  pagination,
  renderApp,
  trialDto,
} from '../../test/helpers';
import type { Handler } from '../../test/helpers';

const BEST = 'bbbbbbbb-0000-0000-0000-000000000004';
const LATEST = 'cccccccc-0000-0000-0000-000000000006';

function marker(uuid: string, steps: number, searcherMetric?: number): CheckpointMarkerDto {
  return {
    uuid,
    stepsCompleted: steps,
    state: 'STATE_COMPLETED',
    reportTime: '2025-03-01T10:00:00.000Z',
    size: '4216',
    ...(searcherMetric === undefined ? {} : { searcherMetric }),
  };
}

function points(name: string, values: [number, number][]): DataPointDto[] {
  return values.map(([batches, v]) => ({
    batches,
    time: '2025-03-01T10:00:00.000Z',
    values: { [name]: v },
  }));
}

const SERIES: Record<string, DataPointDto[]> = {
  validation: points('validation_loss', [
    [100, 0.9],
    [200, 0.6],
    [400, 0.25],
    [600, 0.35],
  ]),
  training: points('loss', [
    [100, 0.95],
    [600, 0.4],
  ]),
};

/** A trial of six checkpoints; the chart's markers are thinned to three of them. */
function trialMaster(overrides: Record<string, Handler> = {}) {
  return fakeMaster({
    'GET /api/v1/trials/7': () => ({ trial: trialDto({ id: 7 }) }),
    'GET /api/v1/experiments/1': () => ({ experiment: experimentDto() }),
    'GET /api/v1/trials/time-series': (url) => {
      const group = url.searchParams.get('group') ?? '';
      return {
        trials: [
          {
            trial: trialDto({ id: 7 }),
            metrics: [{ group, type: 'METRIC_TYPE_UNSPECIFIED', data: SERIES[group] ?? [] }],
          },
        ],
      };
    },
    'GET /api/v1/trials/7/checkpoint-markers': () => ({
      markers: [marker('a', 100, 0.9), marker(BEST, 400, 0.25), marker(LATEST, 600, 0.35)],
      total: 6,
    }),
    'GET /api/v1/trials/7/checkpoints': (url) => {
      const q = url.searchParams;
      if (q.get('limit') === '1') {
        // The best (default order) and the latest (batch number, descending) lookups.
        const uuid = q.get('sortByAttr') === 'SORT_BY_BATCH_NUMBER' ? LATEST : BEST;
        const steps = uuid === BEST ? 400 : 600;
        return {
          checkpoints: [checkpointDto(uuid, steps, { trialId: 7, searcherMetric: 0.25 })],
          pagination: pagination(0, 1, 6),
        };
      }
      return {
        checkpoints: [
          checkpointDto(BEST, 400, { trialId: 7, searcherMetric: 0.25 }),
          checkpointDto(LATEST, 600, { trialId: 7, searcherMetric: 0.35 }),
        ],
        pagination: pagination(0, 2, 2),
      };
    },
    'GET /api/v1/trials/7/logs': () =>
      [1, 2].map((i) =>
        JSON.stringify({
          result: {
            id: String(i),
            trialId: 7,
            timestamp: '2025-03-01T10:00:00.000Z',
            message: `line ${i}\n`,
            level: 'INFO',
            log: `line ${i}\n`,
          },
        }),
      ),
    ...overrides,
  });
}

/** The logs route streams one JSON object per line; the fake answers it as text. */
function withStreamedLogs(master: ReturnType<typeof fakeMaster>): ReturnType<typeof fakeMaster> {
  const inner = master.fetch;
  return {
    ...master,
    fetch: async (input, init) => {
      const res = await inner(input, init);
      if (new URL(input).pathname.endsWith('/logs') && res.ok) {
        const lines = (await res.json()) as string[];
        return new Response(lines.join('\n'));
      }
      return res;
    },
  };
}

const markers = () => screen.queryAllByTestId('checkpoint-marker');

describe('TrialPage', () => {
  it('says a malformed id is not a trial id, without asking the master', async () => {
    const master = trialMaster();
    renderApp('/trials/abc', master);
    expect(await screen.findByRole('heading', { level: 1, name: 'Not found' })).toBeDefined();
    expect(screen.getByText("'abc' is not a trial id.")).toBeDefined();
    expect(master.calls('GET', '/api/v1/trials/abc')).toEqual([]);
  });

  it('says a trial the master does not have does not exist', async () => {
    renderApp(
      '/trials/999',
      trialMaster({ 'GET /api/v1/trials/999': () => apiError('not_found', 'trial 999 not found') }),
    );
    expect(await screen.findByRole('heading', { level: 1, name: 'Not found' })).toBeDefined();
    expect(screen.getByText('Trial 999 does not exist.')).toBeDefined();
  });

  it('charts the searcher metric by default and offers the numeric metrics of both groups', async () => {
    const master = trialMaster();
    renderApp('/trials/7', withStreamedLogs(master));
    expect(await screen.findByRole('heading', { level: 1, name: 'Trial 7' })).toBeDefined();
    const select = await screen.findByLabelText<HTMLSelectElement>('Metric');
    await waitFor(() => expect(select.value).toBe('validation_loss'));
    expect([...select.options].map((o) => o.value)).toEqual([
      'accuracy',
      'validation_loss',
      'loss',
    ]);
    await waitFor(() => expect(markers()).toHaveLength(3));
    const series = master.calls('GET', '/api/v1/trials/time-series')[0];
    expect(series?.searchParams.get('group')).toBe('validation');
    expect(series?.searchParams.getAll('metricNames')).toEqual(['validation_loss']);
    expect(Number(series?.searchParams.get('maxDatapoints'))).toBeLessThanOrEqual(2000);
    const markerCall = master.calls('GET', '/api/v1/trials/7/checkpoint-markers')[0];
    expect(Number(markerCall?.searchParams.get('maxMarkers'))).toBeLessThanOrEqual(500);
  });

  it('marks the best and the latest checkpoint on the chart and says the markers were thinned', async () => {
    renderApp('/trials/7', withStreamedLogs(trialMaster()));
    await waitFor(() => expect(markers()).toHaveLength(3));
    await waitFor(() =>
      expect(markers().find((m) => m.dataset.best === 'true')?.dataset.uuid).toBe(BEST),
    );
    await waitFor(() =>
      expect(markers().find((m) => m.dataset.latest === 'true')?.dataset.uuid).toBe(LATEST),
    );
    const best = markers().find((m) => m.dataset.uuid === BEST);
    expect(best?.getAttribute('aria-label')).toBe(`Checkpoint ${BEST} at step 400`);
    expect(screen.getByText('showing 3 of 6 checkpoints')).toBeDefined();
  });

  it('opens a checkpoint from its marker', async () => {
    const result = renderApp('/trials/7', withStreamedLogs(trialMaster()));
    await waitFor(() => expect(markers()).toHaveLength(3));
    const best = markers().find((m) => m.dataset.uuid === BEST);
    fireEvent.click(best as HTMLElement);
    await waitFor(() => expect(currentPath(result)).toBe(`/trials/7/checkpoints/${BEST}`));
  });

  it('switches to a training metric through the URL', async () => {
    const master = trialMaster();
    const result = renderApp('/trials/7', withStreamedLogs(master));
    const select = await screen.findByLabelText<HTMLSelectElement>('Metric');
    fireEvent.change(select, { target: { value: 'loss' } });
    await waitFor(() => expect(currentParams(result).get('metric')).toBe('loss'));
    await waitFor(() =>
      expect(
        master.calls('GET', '/api/v1/trials/time-series').map((u) => u.searchParams.get('group')),
      ).toContain('training'),
    );
    // The markers stay: interpolated on the training curve, which lacks their steps.
    await waitFor(() => expect(markers()).toHaveLength(3));
  });

  it('marks the best and latest rows of the checkpoint table and shows the log tail', async () => {
    const master = trialMaster();
    renderApp('/trials/7', withStreamedLogs(master));
    const table = await screen.findByTestId('checkpoint-table');
    await waitFor(() => expect(table.querySelectorAll('tbody tr')).toHaveLength(2));
    const bestRow = table.querySelector(`tr[data-uuid="${BEST}"]`) as HTMLElement;
    await waitFor(() => expect(within(bestRow).queryByText('best')).not.toBeNull());
    const latestRow = table.querySelector(`tr[data-uuid="${LATEST}"]`) as HTMLElement;
    await waitFor(() => expect(within(latestRow).queryByText('latest')).not.toBeNull());
    expect(within(bestRow).queryByText('latest')).toBeNull();
    expect(within(table).getByRole('button', { name: 'validation_loss' })).toBeDefined();
    await waitFor(() => expect(screen.getByTestId('trial-logs').textContent).toContain('line 2'));
    const logs = master.calls('GET', '/api/v1/trials/7/logs')[0];
    expect(logs?.searchParams.get('limit')).toBe('200');
  });

  it('turns on a log scale, leaving out the values at or below zero and saying how many', async () => {
    const mixed = points('validation_loss', [
      [100, -0.5],
      [200, 0],
      [300, 0.4],
      [400, 0.2],
    ]);
    const master = trialMaster({
      'GET /api/v1/trials/time-series': () => ({
        trials: [
          {
            trial: trialDto({ id: 7 }),
            metrics: [{ group: 'validation', type: 'METRIC_TYPE_UNSPECIFIED', data: mixed }],
          },
        ],
      }),
    });
    const result = renderApp('/trials/7', withStreamedLogs(master));
    const log = await screen.findByLabelText<HTMLInputElement>('Log scale');
    await waitFor(() => expect(log.disabled).toBe(false));
    fireEvent.click(log);
    await waitFor(() => expect(currentParams(result).get('scale')).toBe('log'));
    expect(log.checked).toBe(true);
    expect((await screen.findByRole('note')).textContent).toBe(
      'Log scale leaves out 2 values at or below zero.',
    );
    // Every marker still has a place: on the positive part of the curve.
    await waitFor(() => expect(markers()).toHaveLength(3));
  });

  it('refuses a log scale for a metric with no positive value', async () => {
    const negative = points('validation_loss', [
      [100, -2],
      [400, -1],
    ]);
    const master = trialMaster({
      'GET /api/v1/trials/time-series': () => ({
        trials: [
          {
            trial: trialDto({ id: 7 }),
            metrics: [{ group: 'validation', type: 'METRIC_TYPE_UNSPECIFIED', data: negative }],
          },
        ],
      }),
    });
    renderApp('/trials/7?scale=log', withStreamedLogs(master));
    expect((await screen.findByRole('note')).textContent).toBe(
      'Log scale needs positive values; this metric has none.',
    );
    const log = screen.getByLabelText<HTMLInputElement>('Log scale');
    expect(log.disabled).toBe(true);
    expect(log.checked).toBe(false);
    await waitFor(() => expect(markers()).toHaveLength(3));
  });

  it('loads older log lines on request', async () => {
    const line = (i: number) =>
      JSON.stringify({
        result: {
          id: String(i),
          trialId: 7,
          timestamp: '2025-03-01T10:00:00.000Z',
          message: `line ${i}`,
          level: 'INFO',
          log: '',
        },
      });
    const master = trialMaster({
      'GET /api/v1/trials/7/logs': (url) => {
        const limit = Number(url.searchParams.get('limit'));
        // 250 lines in all, newest first as asked (ORDER_BY_DESC), at most `limit` of them.
        return Array.from({ length: Math.min(limit, 250) }, (_, i) => line(250 - i));
      },
    });
    renderApp('/trials/7', withStreamedLogs(master));
    const logs = await screen.findByTestId('trial-logs');
    await waitFor(() => expect(logs.textContent?.split('\n')).toHaveLength(200));
    // Oldest first on screen, ending with the newest line.
    expect(logs.textContent).toMatch(/line 250$/);
    const calls = () => master.calls('GET', '/api/v1/trials/7/logs');
    expect(calls()[0]?.searchParams.get('orderBy')).toBe('ORDER_BY_DESC');
    fireEvent.click(screen.getByRole('button', { name: 'Load more' }));
    await waitFor(() => expect(logs.textContent?.split('\n')).toHaveLength(250));
    expect(calls().at(-1)?.searchParams.get('limit')).toBe('400');
    expect(logs.textContent).toMatch(/^\S+ {2}line 1\n/);
    expect(screen.queryByRole('button', { name: 'Load more' })).toBeNull();
  });
});
