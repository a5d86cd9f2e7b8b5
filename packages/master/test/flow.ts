import type { TestMaster } from './helpers.js';

/** Sends a request and parses the JSON answer, failing loudly on an unexpected status. */
export async function call<T = Record<string, unknown>>(
  m: TestMaster,
  token: string,
  method: string,
  path: string,
  body?: unknown,
  expectStatus = 200,
): Promise<T> {
  const res = await m.request(method, path, { token, body });
  const text = await res.text();
  if (res.status !== expectStatus) {
    throw new Error(`${method} ${path}: expected ${expectStatus}, got ${res.status}: ${text}`);
  }
  return (text === '' ? {} : JSON.parse(text)) as T;
}

export interface Seeded {
  token: string;
  experimentId: number;
  trialId: number;
  taskId: string;
  runId: number;
}

/** Creates an unmanaged experiment and a started trial, as Determined's core_v2 does. */
export async function seedTrial(
  m: TestMaster,
  opts: { metric?: string; smallerIsBetter?: boolean; storage?: string } = {},
): Promise<Seeded> {
  const token = await m.login();
  const storage = opts.storage ?? `{type: directory, container_path: ${m.storageDir}}`;
  const config = `name: test, searcher: {name: single, metric: ${opts.metric ?? 'validation_loss'}, smaller_is_better: ${String(opts.smallerIsBetter ?? true)}}, checkpoint_storage: ${storage}`;
  const { experiment } = await call<{ experiment: { id: number } }>(
    m,
    token,
    'POST',
    '/api/v1/experiments',
    {
      config: `{${config}}`,
      unmanaged: true,
    },
  );
  const { trial } = await call<{ trial: { id: number; taskId: string } }>(
    m,
    token,
    'POST',
    '/api/v1/trials',
    {
      experimentId: experiment.id,
      hparams: { lr: 0.1 },
      unmanaged: true,
    },
  );
  const { trialRunId } = await call<{ trialRunId: number }>(
    m,
    token,
    'POST',
    `/api/v1/trials/${trial.id}/start`,
    {
      trialId: trial.id,
      resume: true,
    },
  );
  return {
    token,
    experimentId: experiment.id,
    trialId: trial.id,
    taskId: trial.taskId,
    runId: trialRunId,
  };
}

/** Sends a metrics report as the Python SDK does (run id: the trial's, unless given); the raw answer. */
export function sendMetrics(
  m: TestMaster,
  s: Seeded,
  group: string,
  steps: number,
  metrics: Record<string, unknown>,
  runId = s.runId,
): Promise<Response> {
  return m.request('POST', `/api/v1/trials/${s.trialId}/metrics`, {
    token: s.token,
    body: {
      group,
      metrics: {
        trialId: s.trialId,
        trialRunId: runId,
        stepsCompleted: steps,
        reportTime: null,
        metrics: { avgMetrics: metrics, batchMetrics: null },
      },
    },
  });
}

/** Reports metrics for a seeded trial, failing loudly unless the master answers 200. */
export async function reportMetric(
  m: TestMaster,
  s: Seeded,
  group: string,
  steps: number,
  metrics: Record<string, unknown>,
): Promise<void> {
  const res = await sendMetrics(m, s, group, steps, metrics);
  if (res.status !== 200) {
    throw new Error(`metrics report: expected 200, got ${res.status}: ${await res.text()}`);
  }
}

let counter = 0;

/** A fresh deterministic-looking UUID for tests. */
export function testUuid(): string {
  counter += 1;
  return `00000000-0000-4000-8000-${counter.toString(16).padStart(12, '0')}`;
}

/** Reports a checkpoint for a seeded trial (no files are written). */
export async function reportCheckpoint(
  m: TestMaster,
  s: Seeded,
  steps: number,
  extra: {
    uuid?: string;
    resources?: Record<string, string>;
    reportTime?: string;
    digests?: Record<string, string>;
  } = {},
): Promise<string> {
  const uuid = extra.uuid ?? testUuid();
  await call(m, s.token, 'POST', '/api/v1/checkpoints', {
    uuid,
    taskId: s.taskId,
    allocationId: null,
    reportTime: extra.reportTime ?? new Date(m.now.ms).toISOString(),
    state: 'STATE_COMPLETED',
    resources: extra.resources ?? { 'metadata.json': '20', 'model.bin': '100' },
    metadata: { steps_completed: steps },
    training: {},
    storageId: null,
    ...(extra.digests === undefined ? {} : { digests: extra.digests }),
  });
  return uuid;
}

/** Creates and starts another trial in a seeded trial's experiment. */
export async function addTrial(m: TestMaster, s: Seeded): Promise<Seeded> {
  const { trial } = await call<{ trial: { id: number; taskId: string } }>(
    m,
    s.token,
    'POST',
    '/api/v1/trials',
    { experimentId: s.experimentId, hparams: {}, unmanaged: true },
  );
  const { trialRunId } = await call<{ trialRunId: number }>(
    m,
    s.token,
    'POST',
    `/api/v1/trials/${trial.id}/start`,
    { trialId: trial.id, resume: true },
  );
  return { ...s, trialId: trial.id, taskId: trial.taskId, runId: trialRunId };
}
