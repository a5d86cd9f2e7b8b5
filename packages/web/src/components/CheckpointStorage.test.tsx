import { fireEvent, screen, waitFor, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';

import type { CheckpointDto } from '@determined-ts/api';

import {
  apiError,
  checkpointDto,
  experimentDto,
  fakeMaster,
  pagination,
  renderApp,
} from '../../test/helpers';

// Each checkpoint of checkpointDto holds 120 + 4096 bytes.
const SIZE = 4216;

function gcCheckpoint(
  uuid: string,
  trialId: number,
  steps: number,
  metric: number | string | null,
) {
  return {
    UUID: uuid,
    TrialID: trialId,
    StepsCompleted: steps,
    State: 'COMPLETED',
    Size: SIZE,
    SearcherMetric: metric,
    ReportTime: '2025-03-01T10:00:00Z',
  };
}

/** A master with three live checkpoints; the policy (0, 1, 1) keeps two of them. */
function gcMaster(options: { failures?: boolean } = {}) {
  let policy = { save_experiment_best: 0, save_trial_best: 1, save_trial_latest: 1 };
  let live: CheckpointDto[] = [
    checkpointDto('ckpt-a', 100, { trialId: 1, searcherMetric: 0.5 }),
    checkpointDto('ckpt-b', 200, { trialId: 1, searcherMetric: 0.25 }),
    checkpointDto('ckpt-c', 300, { trialId: 1, searcherMetric: 0.75 }),
  ];
  const experiment = () =>
    experimentDto({
      config: {
        searcher: { name: 'single', metric: 'validation_loss', smaller_is_better: true },
        checkpoint_storage: { type: 'shared_fs', host_path: '/tmp/ckpt', ...policy },
      },
    });
  const master = fakeMaster({
    'GET /api/v1/experiments/1': () => ({ experiment: experiment() }),
    'GET /api/v1/experiments/1/trials': () => ({ trials: [], pagination: pagination(0, 0, 0) }),
    'GET /api/v1/experiments/1/checkpoints': (url) => {
      const states = url.searchParams.getAll('states');
      const rows = live.filter((c) => states.length === 0 || states.includes(c.state));
      return { checkpoints: rows, pagination: pagination(0, rows.length, rows.length) };
    },
    'GET /experiments/1/preview_gc': (url) => {
      if (url.searchParams.get('save_trial_latest') === '99') {
        return apiError('invalid_argument', 'save_trial_latest is refused');
      }
      const q = (name: string) => Number(url.searchParams.get(name));
      const keepBest = q('save_trial_best') + q('save_experiment_best');
      const keepLatest = q('save_trial_latest');
      // Enough of a policy for the test: the best by metric, then the latest by steps.
      const byMetric = [...live].sort(
        (a, b) => Number(a.training?.searcherMetric ?? 0) - Number(b.training?.searcherMetric ?? 0),
      );
      const bySteps = [...live].sort(
        (a, b) => Number(b.metadata.steps_completed) - Number(a.metadata.steps_completed),
      );
      const kept = new Set([
        ...byMetric.slice(0, keepBest).map((c) => c.uuid),
        ...bySteps.slice(0, keepLatest).map((c) => c.uuid),
      ]);
      const gone = live.filter((c) => !kept.has(c.uuid));
      return {
        metric_name: 'validation_loss',
        checkpoints: gone.map((c) =>
          gcCheckpoint(
            c.uuid,
            c.training?.trialId ?? 0,
            Number(c.metadata.steps_completed),
            c.training?.searcherMetric ?? null,
          ),
        ),
        summary: {
          policy: {},
          deleteCount: gone.length,
          deleteBytes: gone.length * SIZE,
          keepCount: kept.size,
          keepBytes: kept.size * SIZE,
        },
      };
    },
    'PATCH /api/v1/experiments/1': (_url, init) => {
      const body = JSON.parse(typeof init?.body === 'string' ? init.body : '{}') as {
        checkpointStorage: {
          saveExperimentBest: number;
          saveTrialBest: number;
          saveTrialLatest: number;
        };
      };
      const p = body.checkpointStorage;
      policy = {
        save_experiment_best: p.saveExperimentBest,
        save_trial_best: p.saveTrialBest,
        save_trial_latest: p.saveTrialLatest,
      };
      if (options.failures === true) {
        return {
          experiment: experiment(),
          gc: {
            deleted: [{ uuid: 'ckpt-a', bytes: SIZE }],
            failed: [{ uuid: 'ckpt-c', error: 'EACCES: permission denied' }],
            freedBytes: SIZE,
          },
        };
      }
      // Keeps only the latest.
      const gone = live.filter((c) => c.uuid !== 'ckpt-c');
      live = live.filter((c) => c.uuid === 'ckpt-c');
      return {
        experiment: experiment(),
        gc: {
          deleted: gone.map((c) => ({ uuid: c.uuid, bytes: SIZE })),
          failed: [],
          freedBytes: gone.length * SIZE,
        },
      };
    },
  });
  return master;
}

async function storageSection() {
  return screen.findByRole('region', { name: 'Checkpoint storage' });
}

function setField(section: HTMLElement, label: string, value: string) {
  fireEvent.change(within(section).getByLabelText(label), { target: { value } });
}

describe('CheckpointStorage', () => {
  it('shows the storage used by the live checkpoints and what the current policy keeps', async () => {
    const master = gcMaster();
    renderApp('/experiments/1', master);
    const section = await storageSection();
    await waitFor(() =>
      expect(within(section).getByTestId('storage-used').textContent).toBe(
        '12.4 KiB in 3 checkpoints',
      ),
    );
    expect(within(section).getByTestId('current-policy').textContent).toBe(
      'experiment best 0 · trial best 1 · trial latest 1',
    );
    await waitFor(() =>
      expect(within(section).getByTestId('current-keep').textContent).toBe(
        'keeps 2 checkpoints (8.2 KiB); applying it now would free 4.1 KiB in 1 checkpoint',
      ),
    );
    const listing = master
      .calls('GET', '/api/v1/experiments/1/checkpoints')
      .find((u) => u.searchParams.getAll('states').length === 2);
    expect(listing?.searchParams.getAll('states')).toEqual([
      'STATE_COMPLETED',
      'STATE_PARTIALLY_DELETED',
    ]);
    const preview = master.calls('GET', '/experiments/1/preview_gc')[0]?.searchParams;
    expect(preview?.get('save_experiment_best')).toBe('0');
    expect(preview?.get('save_trial_best')).toBe('1');
    expect(preview?.get('save_trial_latest')).toBe('1');
  });

  it('refuses a policy that is not three counts, naming the fields', async () => {
    const master = gcMaster();
    renderApp('/experiments/1', master);
    const section = await storageSection();
    setField(section, 'Trial best', '-1');
    setField(section, 'Trial latest', 'two');
    fireEvent.click(within(section).getByRole('button', { name: 'Preview' }));
    const alerts = await within(section).findAllByRole('alert');
    expect(alerts.map((a) => a.textContent)).toEqual([
      'Trial best must be a whole number, 0 or more.',
      'Trial latest must be a whole number, 0 or more.',
    ]);
    expect(within(section).queryByTestId('gc-preview')).toBeNull();
  });

  it('previews a policy, then applies it after confirmation and shows what was deleted', async () => {
    const master = gcMaster();
    renderApp('/experiments/1', master);
    const section = await storageSection();
    setField(section, 'Trial best', '0');
    fireEvent.click(within(section).getByRole('button', { name: 'Preview' }));
    const summary = await within(section).findByTestId('gc-preview-summary');
    expect(summary.textContent).toBe(
      'experiment best 0 · trial best 0 · trial latest 1: would delete 2 checkpoints, freeing 8.2 KiB; keeps 1 checkpoint (4.1 KiB); applying it now would free 8.2 KiB in 2 checkpoints',
    );
    const table = within(section).getByTestId('gc-delete-table');
    const rows = within(table).getAllByRole('row').slice(1);
    expect(
      rows.map((r) => Array.from((r as HTMLTableRowElement).cells, (c) => c.textContent)),
    ).toEqual([
      ['ckpt-a', 'Trial 1', '100', '0.5', '4.1 KiB'],
      ['ckpt-b', 'Trial 1', '200', '0.25', '4.1 KiB'],
    ]);
    expect(within(table).getByRole('link', { name: 'ckpt-a' }).getAttribute('href')).toBe(
      '/trials/1/checkpoints/ckpt-a',
    );

    fireEvent.click(within(section).getByRole('button', { name: 'Apply' }));
    const dialog = within(section).getByRole('alertdialog');
    expect(dialog.textContent).toContain('delete 2 checkpoints (8.2 KiB) for good?');
    expect(master.calls('PATCH', '/api/v1/experiments/1')).toHaveLength(0);
    fireEvent.click(within(dialog).getByRole('button', { name: 'Delete and save' }));

    const result = await within(section).findByTestId('gc-result');
    expect(result.textContent).toBe('Policy saved: deleted 2 checkpoints, freed 8.2 KiB.');
    expect(master.requests.find((r) => r.method === 'PATCH')?.body).toEqual({
      id: 1,
      checkpointStorage: { saveExperimentBest: 0, saveTrialBest: 0, saveTrialLatest: 1 },
    });
    // Refreshed: the storage, the policy and what it keeps.
    await waitFor(() =>
      expect(within(section).getByTestId('storage-used').textContent).toBe(
        '4.1 KiB in 1 checkpoint',
      ),
    );
    await waitFor(() =>
      expect(within(section).getByTestId('current-policy').textContent).toBe(
        'experiment best 0 · trial best 0 · trial latest 1',
      ),
    );
    await waitFor(() =>
      expect(within(section).getByTestId('current-keep').textContent).toBe(
        'keeps 1 checkpoint (4.1 KiB)',
      ),
    );
  });

  it('cancels without sending anything', async () => {
    const master = gcMaster();
    renderApp('/experiments/1', master);
    const section = await storageSection();
    fireEvent.click(within(section).getByRole('button', { name: 'Preview' }));
    fireEvent.click(await within(section).findByRole('button', { name: 'Apply' }));
    fireEvent.click(within(section).getByRole('button', { name: 'Cancel' }));
    expect(within(section).queryByRole('alertdialog')).toBeNull();
    expect(master.calls('PATCH', '/api/v1/experiments/1')).toHaveLength(0);
  });

  it('lists the checkpoints that could not be deleted with their reasons', async () => {
    const master = gcMaster({ failures: true });
    renderApp('/experiments/1', master);
    const section = await storageSection();
    setField(section, 'Trial best', '0');
    fireEvent.click(within(section).getByRole('button', { name: 'Preview' }));
    fireEvent.click(await within(section).findByRole('button', { name: 'Apply' }));
    fireEvent.click(within(section).getByRole('button', { name: 'Delete and save' }));
    const result = await within(section).findByTestId('gc-result');
    expect(result.textContent).toContain(
      'deleted 1 checkpoint, freed 4.1 KiB; 1 checkpoint could not be deleted:',
    );
    expect(within(result).getByTestId('gc-failures').textContent).toBe(
      'ckpt-c: EACCES: permission denied',
    );
  });

  it('shows the error the master gives for a preview', async () => {
    const master = gcMaster();
    renderApp('/experiments/1', master);
    const section = await storageSection();
    setField(section, 'Trial latest', '99');
    fireEvent.click(within(section).getByRole('button', { name: 'Preview' }));
    await waitFor(() => expect(section.textContent).toContain('save_trial_latest is refused'));
  });
});
