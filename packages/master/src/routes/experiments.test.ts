import { EXPERIMENT_STATES, TRIAL_STATES } from '@determined-ts/api';
import type { ExperimentDto, Pagination, TrialDto } from '@determined-ts/api';
import { expect, it } from 'vitest';

import { call } from '../../test/flow.js';
import { expectError } from '../../test/expect-error.js';
import { describeEachDialect } from '../../test/helpers.js';
import type { TestMaster } from '../../test/helpers.js';

interface ExperimentResponse {
  experiment: ExperimentDto;
  config: Record<string, unknown>;
}

/** The config text core_v2 sends: ruamel's flow style, with the null keys it always writes. */
function ruamelConfig(m: TestMaster, name: string): string {
  return (
    `{checkpoint_storage: {container_path: ${m.storageDir}, type: directory}, data: null, ` +
    `description: null, labels: null, name: ${name}, project: null, ` +
    `searcher: {metric: m, name: single, smaller_is_better: false}, workspace: null}\n`
  );
}

async function createExperiment(
  m: TestMaster,
  token: string,
  config: string,
): Promise<ExperimentResponse> {
  return call<ExperimentResponse>(m, token, 'POST', '/api/v1/experiments', {
    config,
    unmanaged: true,
  });
}

describeEachDialect('experiment routes', ({ master }) => {
  it('creates an experiment from ruamel flow-style YAML with every field the Python SDK requires', async () => {
    const m = master();
    const token = await m.login();
    const text = ruamelConfig(m, 'x');
    const res = await createExperiment(m, token, text);
    const e = res.experiment;
    // Required by bindings.v1Experiment.from_json.
    for (const key of [
      'id',
      'archived',
      'config',
      'jobId',
      'name',
      'numTrials',
      'originalConfig',
      'projectId',
      'projectOwnerId',
      'searcherType',
      'startTime',
      'state',
      'username',
    ]) {
      expect(e, key).toHaveProperty(key);
    }
    expect(e).toMatchObject({
      name: 'x',
      archived: false,
      numTrials: 0,
      trialIds: [],
      originalConfig: text,
      searcherType: 'single',
      searcherMetric: 'm',
      username: 'determined',
      unmanaged: true,
      jobId: `experiment-${e.id}`,
      startTime: new Date(m.now.ms).toISOString(),
      checkpointSize: '0',
      checkpointCount: 0,
      description: '',
      labels: [],
    });
    expect(e.id).toBeGreaterThan(0);
    expect(EXPERIMENT_STATES).toContain(e.state);
    expect(e.state).toBe('STATE_ACTIVE');
    expect(typeof e.projectId).toBe('number');
    expect(typeof e.projectOwnerId).toBe('number');
    // The config is echoed at the top level and inside the experiment.
    expect(res.config).toEqual(e.config);
    expect(res.config).toMatchObject({
      name: 'x',
      data: null,
      workspace: null,
      project: null,
      searcher: { metric: 'm', name: 'single', smaller_is_better: false },
      checkpoint_storage: { type: 'directory', container_path: m.storageDir },
    });
    const got = await call<ExperimentResponse>(m, token, 'GET', `/api/v1/experiments/${e.id}`);
    expect(got).toEqual(res);
  });

  it('fills the defaults: the master storage, smaller_is_better true, the unmanaged metric', async () => {
    const m = master();
    const token = await m.login();
    const { config, experiment } = await createExperiment(m, token, 'name: bare\n');
    expect(config.checkpoint_storage).toEqual({
      type: 'directory',
      container_path: m.storageDir,
      save_experiment_best: 0,
      save_trial_best: 1,
      save_trial_latest: 1,
    });
    expect(config.searcher).toEqual({
      name: 'single',
      metric: 'unmanaged',
      smaller_is_better: true,
    });
    expect(experiment.searcherMetric).toBe('unmanaged');

    const withMetric = await createExperiment(m, token, '{name: y, searcher: {metric: acc}}');
    expect(withMetric.config.searcher).toEqual({
      name: 'single',
      metric: 'acc',
      smaller_is_better: true,
    });
    // An experiment with no name gets one.
    const unnamed = await createExperiment(m, token, '{}');
    expect(unnamed.experiment.name).toBe('unnamed');
  });

  it('creates once per external id', async () => {
    const m = master();
    const token = await m.login();
    const body = { config: ruamelConfig(m, 'ext'), unmanaged: true };
    const first = await call<ExperimentResponse>(
      m,
      token,
      'PUT',
      '/api/v1/experiments/by-external-id/run-42',
      body,
    );
    const second = await call<ExperimentResponse>(
      m,
      token,
      'PUT',
      '/api/v1/experiments/by-external-id/run-42',
      { ...body, config: ruamelConfig(m, 'changed') },
    );
    expect(second.experiment.id).toBe(first.experiment.id);
    expect(second.experiment.name).toBe('ext');
    expect(first.experiment.externalExperimentId).toBe('run-42');
    const other = await call<ExperimentResponse>(
      m,
      token,
      'PUT',
      '/api/v1/experiments/by-external-id/run-43',
      body,
    );
    expect(other.experiment.id).not.toBe(first.experiment.id);
    const { pagination } = await call<{ pagination: Pagination }>(
      m,
      token,
      'GET',
      '/api/v1/experiments',
    );
    expect(pagination.total).toBe(2);
  });

  it('lists experiments with pagination, sorting and a name filter', async () => {
    const m = master();
    const token = await m.login();
    for (const name of ['beta', 'Alpha', 'gamma_1', 'gammax1']) {
      await createExperiment(m, token, `{name: ${name}}`);
      m.now.ms += 1000;
    }
    type List = { experiments: ExperimentDto[]; pagination: Pagination };
    const all = await call<List>(m, token, 'GET', '/api/v1/experiments');
    expect(all.experiments.map((e) => e.name)).toEqual(['beta', 'Alpha', 'gamma_1', 'gammax1']);
    expect(all.pagination).toEqual({ offset: 0, limit: 0, startIndex: 0, endIndex: 4, total: 4 });

    const page = await call<List>(m, token, 'GET', '/api/v1/experiments?offset=1&limit=2');
    expect(page.experiments.map((e) => e.name)).toEqual(['Alpha', 'gamma_1']);
    expect(page.pagination).toEqual({ offset: 1, limit: 2, startIndex: 1, endIndex: 3, total: 4 });

    const tail = await call<List>(m, token, 'GET', '/api/v1/experiments?offset=-1');
    expect(tail.experiments.map((e) => e.name)).toEqual(['gammax1']);

    const byName = await call<List>(
      m,
      token,
      'GET',
      '/api/v1/experiments?sortBy=SORT_BY_NAME&orderBy=ORDER_BY_DESC',
    );
    // Sorted by the stored name; both databases compare these ASCII names the same way.
    expect(byName.experiments.map((e) => e.name)).toEqual(
      ['beta', 'Alpha', 'gamma_1', 'gammax1'].sort().reverse(),
    );

    const gamma = await call<List>(m, token, 'GET', '/api/v1/experiments?name=GAMMA');
    expect(gamma.experiments.map((e) => e.name)).toEqual(['gamma_1', 'gammax1']);
    expect(gamma.pagination.total).toBe(2);
    // `_` is a literal underscore, not a LIKE wildcard.
    const underscore = await call<List>(m, token, 'GET', '/api/v1/experiments?name=a_1');
    expect(underscore.experiments.map((e) => e.name)).toEqual(['gamma_1']);

    const active = await call<List>(m, token, 'GET', '/api/v1/experiments?states=STATE_ACTIVE');
    expect(active.pagination.total).toBe(4);
    const done = await call<List>(m, token, 'GET', '/api/v1/experiments?states=STATE_COMPLETED');
    expect(done.pagination.total).toBe(0);
  });

  it('lists the trials of an experiment with pagination', async () => {
    const m = master();
    const token = await m.login();
    const { experiment } = await createExperiment(m, token, ruamelConfig(m, 't'));
    const ids: number[] = [];
    for (let i = 0; i < 5; i += 1) {
      const { trial } = await call<{ trial: TrialDto }>(m, token, 'POST', '/api/v1/trials', {
        experimentId: experiment.id,
        hparams: { i },
        unmanaged: true,
      });
      ids.push(trial.id);
    }
    await call(m, token, 'PATCH', `/api/v1/trials/${ids[1]}`, { state: 'STATE_COMPLETED' });
    type List = { trials: TrialDto[]; pagination: Pagination };
    const path = `/api/v1/experiments/${experiment.id}/trials`;
    const all = await call<List>(m, token, 'GET', path);
    expect(all.trials.map((t) => t.id)).toEqual(ids);
    for (const t of all.trials) {
      expect(TRIAL_STATES).toContain(t.state);
      expect(t.taskId).not.toBe('');
    }
    expect(all.pagination).toEqual({ offset: 0, limit: 0, startIndex: 0, endIndex: 5, total: 5 });

    const page = await call<List>(
      m,
      token,
      'GET',
      `${path}?offset=2&limit=2&orderBy=ORDER_BY_DESC`,
    );
    expect(page.trials.map((t) => t.id)).toEqual([ids[2], ids[1]]);
    expect(page.pagination).toEqual({ offset: 2, limit: 2, startIndex: 2, endIndex: 4, total: 5 });

    const completed = await call<List>(m, token, 'GET', `${path}?states=STATE_COMPLETED`);
    expect(completed.trials.map((t) => t.id)).toEqual([ids[1]]);

    const end = await call<List>(m, token, 'GET', `${path}?offset=5`);
    expect(end.trials).toEqual([]);
    await expectError(
      await m.request('GET', `${path}?offset=6`, { token }),
      400,
      'offset out of bounds',
    );
    const { experiment: after } = await call<ExperimentResponse>(
      m,
      token,
      'GET',
      `/api/v1/experiments/${experiment.id}`,
    );
    expect(after.numTrials).toBe(5);
    expect(after.trialIds).toEqual(ids);
  });

  it('answers an unknown experiment with 404', async () => {
    const m = master();
    const token = await m.login();
    for (const path of [
      '/api/v1/experiments/999',
      '/api/v1/experiments/999/trials',
      '/api/v1/experiments/999/checkpoints',
    ]) {
      const body = await expectError(
        await m.request('GET', path, { token }),
        404,
        "experiment '999' not found",
      );
      expect(body.message).toBe("experiment '999' not found");
    }
  });
});
