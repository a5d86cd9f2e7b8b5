import { fireEvent, screen, waitFor, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';

import {
  apiError,
  checkpointDto,
  currentParams,
  experimentDto,
  fakeMaster,
  pagination,
  renderApp,
  trialDto,
} from '../../test/helpers';

function experimentMaster() {
  return fakeMaster({
    'GET /api/v1/experiments/1': () => ({
      experiment: experimentDto({
        name: 'mnist-sweep',
        hyperparameters: {
          learning_rate: { type: 'log', base: 10, minval: -4, maxval: -1 },
          batch_size: { type: 'const', val: 32 },
        },
      }),
    }),
    'GET /api/v1/experiments/404': () => apiError('not_found', 'experiment 404 not found'),
    'GET /api/v1/experiments/3': () => ({
      experiment: experimentDto({
        id: 3,
        name: 'on-s3',
        config: {
          searcher: { name: 'single', metric: 'validation_loss', smaller_is_better: true },
          checkpoint_storage: {
            type: 's3',
            bucket: 'ckpt-bucket',
            prefix: 'team/runs',
            access_key: 'AKIA-ACCESS-KEY',
            secret_key: 'S3-SECRET-KEY',
            endpoint_url: 'https://minio.test:9000',
          },
        },
      }),
    }),
    'GET /api/v1/experiments/3/trials': () => ({ trials: [], pagination: pagination(0, 0, 0) }),
    'GET /api/v1/experiments/3/checkpoints': () => ({
      checkpoints: [],
      pagination: pagination(0, 0, 0),
    }),
    // Made through the Core API: no hyperparameters of its own, its trials carry theirs.
    'GET /api/v1/experiments/2': () => ({
      experiment: experimentDto({ id: 2, name: 'core-api', hyperparameters: {} }),
    }),
    'GET /api/v1/experiments/2/trials': () => ({
      trials: [
        trialDto({ id: 5, experimentId: 2, hparams: { learning_rate: 0.01, opt: 'adam' } }),
        trialDto({ id: 6, experimentId: 2, hparams: { learning_rate: 0.1, opt: 'adam' } }),
      ],
      pagination: pagination(0, 2, 2),
    }),
    'GET /api/v1/experiments/2/checkpoints': () => ({
      checkpoints: [],
      pagination: pagination(0, 0, 0),
    }),
    'GET /api/v1/experiments/1/trials': (url) => {
      const offset = Number(url.searchParams.get('offset'));
      return {
        trials: [
          trialDto({ id: 1 + offset }),
          trialDto({ id: 2 + offset, searcherMetricValue: 0.5 }),
        ],
        pagination: pagination(offset, 2, 45),
      };
    },
    'GET /api/v1/experiments/1/checkpoints': () => ({
      checkpoints: [
        checkpointDto('best-one', 400, { trialId: 1, searcherMetric: 0.25 }),
        checkpointDto('second', 300, { trialId: 2, searcherMetric: 0.3 }),
        checkpointDto('unvalidated', 500, { trialId: 2 }),
      ],
      pagination: pagination(0, 3, 3),
    }),
  });
}

describe('ExperimentPage', () => {
  it('shows the searcher, the checkpoint storage with its secrets masked, and the hyperparameters', async () => {
    renderApp('/experiments/1', experimentMaster());
    expect(await screen.findByRole('heading', { level: 1, name: 'mnist-sweep' })).toBeDefined();
    const config = screen.getByRole('region', { name: 'Configuration' });
    const text = config.textContent ?? '';
    expect(text).toContain('validation_loss');
    expect(text).toContain('smaller is better');
    expect(text).toContain('host_path/tmp/ckpt');
    expect(text).toContain('secret_key••••••');
    expect(text).not.toContain('hunter2');
    expect(text).toContain('log (base 10) in [-4, -1]');
    expect(text).toContain('batch_size32');
  });

  it('masks the s3 keys in the checkpoint storage and shows its other settings', async () => {
    renderApp('/experiments/3', experimentMaster());
    const config = await screen.findByRole('region', { name: 'Configuration' });
    const text = config.textContent ?? '';
    expect(text).toContain('types3');
    expect(text).toContain('bucketckpt-bucket');
    expect(text).toContain('prefixteam/runs');
    expect(text).toContain('endpoint_urlhttps://minio.test:9000');
    expect(text).toContain('access_key••••••');
    expect(text).toContain('secret_key••••••');
    const page = document.body.innerHTML;
    expect(page).not.toContain('AKIA-ACCESS-KEY');
    expect(page).not.toContain('S3-SECRET-KEY');
  });

  it('shows the hyperparameters its trials report when the experiment declares none', async () => {
    renderApp('/experiments/2', experimentMaster());
    const config = await screen.findByRole('region', { name: 'Configuration' });
    await waitFor(() => expect(config.textContent).toContain('learning_rate0.01, 0.1'));
    expect(config.textContent).toContain('optadam');
  });

  it('pages and sorts the trials on the server, each linking to its page', async () => {
    const master = experimentMaster();
    const result = renderApp('/experiments/1', master);
    const table = await screen.findByTestId('trials-table');
    await waitFor(() => expect(within(table).getAllByRole('row')).toHaveLength(3));
    expect(within(table).getByRole('link', { name: 'Trial 1' }).getAttribute('href')).toBe(
      '/trials/1',
    );
    expect(screen.getAllByTestId('pager-range')[0]?.textContent).toBe('1–2 of 45');

    fireEvent.click(within(table).getByRole('button', { name: 'Best validation_loss' }));
    await waitFor(() => expect(currentParams(result).get('sort')).toBe('bestValidation'));
    // Smaller is better, so the best come first.
    expect(currentParams(result).get('order')).toBe('asc');
    const last = master.calls('GET', '/api/v1/experiments/1/trials').at(-1);
    await waitFor(() =>
      expect(
        master.calls('GET', '/api/v1/experiments/1/trials').at(-1)?.searchParams.get('sortBy'),
      ).toBe('SORT_BY_BEST_VALIDATION_METRIC'),
    );
    expect(last).toBeDefined();
  });

  it('lists the best validated checkpoints across trials, best first', async () => {
    const master = experimentMaster();
    renderApp('/experiments/1', master);
    const table = await screen.findByTestId('best-checkpoints-table');
    await waitFor(() => expect(within(table).getAllByRole('row')).toHaveLength(3));
    const link = within(table).getByRole('link', { name: 'best-one' });
    expect(link.getAttribute('href')).toBe('/trials/1/checkpoints/best-one');
    expect(within(table).queryByText('unvalidated')).toBeNull();
    const q = master.calls('GET', '/api/v1/experiments/1/checkpoints')[0]?.searchParams;
    expect(q?.get('limit')).toBe('10');
    expect(q?.getAll('states')).toEqual(['STATE_COMPLETED']);
    expect(q?.get('sortByAttr')).toBe('SORT_BY_SEARCHER_METRIC');
  });

  it('says an experiment the master does not have does not exist', async () => {
    renderApp('/experiments/404', experimentMaster());
    expect(await screen.findByText('Experiment 404 does not exist.')).toBeDefined();
  });

  it('refuses a malformed experiment id', async () => {
    renderApp('/experiments/-1', experimentMaster());
    expect(await screen.findByText("'-1' is not an experiment id.")).toBeDefined();
  });
});
