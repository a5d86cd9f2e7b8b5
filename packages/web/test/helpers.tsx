import { render } from '@testing-library/react';
import type { RenderResult } from '@testing-library/react';
import { MemoryRouter, useLocation } from 'react-router';

import type {
  CheckpointDto,
  ErrorCode,
  ExperimentDto,
  JsonObject,
  ModelAliasDto,
  ModelAliasEventDto,
  ModelDto,
  ModelVersionDto,
  Pagination,
  TrialDto,
  UserDto,
} from '@determined-ts/api';
import { ERROR_CODES } from '@determined-ts/api';
import { createClient } from '@determined-ts/sdk/client';
import type { FetchLike } from '@determined-ts/sdk/client';

import { App } from '../src/App';
import { createQueryClient } from '../src/api';

/** What a route of the fake master answers: a JSON body (200), or a whole Response. */
export type Handler = (url: URL, init: RequestInit | undefined) => unknown;

/** A master made of a table: `'GET /api/v1/experiments'` → handler. It records every request. */
export interface FakeMaster {
  fetch: FetchLike;
  /** Every request, in order. */
  requests: { method: string; url: URL; body: unknown }[];
  /** The requests to one path. */
  calls(method: string, path: string): URL[];
}

/** An error response as the master sends it. */
export function apiError(code: ErrorCode, message: string): Response {
  const { grpc, reason, status } = ERROR_CODES[code];
  return Response.json(
    { message, error: { code: grpc, reason, error: message, message } },
    { status },
  );
}

export function fakeMaster(routes: Record<string, Handler>): FakeMaster {
  const requests: FakeMaster['requests'] = [];
  const table: Record<string, Handler> = {
    'GET /api/v1/me': () => ({ user: userDto() }),
    ...routes,
  };
  return {
    requests,
    calls: (method, path) =>
      requests.filter((r) => r.method === method && r.url.pathname === path).map((r) => r.url),
    fetch: async (input, init) => {
      const url = new URL(input);
      const method = init?.method ?? 'GET';
      const body: unknown = typeof init?.body === 'string' ? JSON.parse(init.body) : undefined;
      requests.push({ method, url, body });
      const handler = table[`${method} ${url.pathname}`];
      if (handler === undefined) {
        return apiError('not_found', `no route ${method} ${url.pathname}`);
      }
      const answer = await handler(url, init);
      return answer instanceof Response ? answer : Response.json(answer);
    },
  };
}

/** Renders the whole app at `path` against `master`; the current URL is in `location`. */
export function renderApp(path: string, master: FakeMaster): RenderResult {
  const client = createClient({
    baseUrl: 'http://master.test',
    fetch: master.fetch,
    retry: { attempts: 1 },
  });
  return render(
    <MemoryRouter initialEntries={[path]}>
      <App client={client} queryClient={createQueryClient()} />
      <LocationProbe />
    </MemoryRouter>,
  );
}

function LocationProbe() {
  const location = useLocation();
  return <div data-testid="location">{location.pathname + location.search}</div>;
}

/** The search parameters of the app's current URL. */
export function currentParams(result: RenderResult): URLSearchParams {
  const text = result.getByTestId('location').textContent ?? '';
  return new URL(text, 'http://app.test').searchParams;
}

export function currentPath(result: RenderResult): string {
  return new URL(result.getByTestId('location').textContent ?? '', 'http://app.test').pathname;
}

export function pagination(offset: number, rows: number, total: number): Pagination {
  return { offset, limit: rows, startIndex: offset, endIndex: offset + rows, total };
}

const T0 = '2025-03-01T10:00:00.000Z';

export function userDto(overrides: Partial<UserDto> = {}): UserDto {
  return {
    id: 1,
    username: 'determined',
    admin: false,
    active: true,
    displayName: '',
    agentUserGroup: null,
    remote: false,
    modifiedAt: T0,
    ...overrides,
  };
}

export function experimentDto(overrides: Partial<ExperimentDto> = {}): ExperimentDto {
  const id = overrides.id ?? 1;
  return {
    id,
    name: `experiment-${id}`,
    description: '',
    labels: [],
    startTime: T0,
    state: 'STATE_COMPLETED',
    archived: false,
    numTrials: 1,
    trialIds: [1],
    displayName: '',
    userId: 1,
    username: 'determined',
    resourcePool: '',
    searcherType: 'single',
    searcherMetric: 'validation_loss',
    hyperparameters: { learning_rate: { type: 'const', val: 0.01 } },
    notes: '',
    jobId: '',
    forkedFrom: null,
    progress: null,
    projectId: 1,
    projectName: 'Uncategorized',
    workspaceId: 1,
    workspaceName: 'Uncategorized',
    parentArchived: false,
    config: {
      searcher: { name: 'single', metric: 'validation_loss', smaller_is_better: true },
      checkpoint_storage: { type: 'shared_fs', host_path: '/tmp/ckpt', secret_key: 'hunter2' },
    },
    originalConfig: '',
    projectOwnerId: 1,
    checkpointSize: '2048',
    checkpointCount: 2,
    bestTrialSearcherMetric: 0.25,
    bestTrialId: 1,
    unmanaged: true,
    ...overrides,
  };
}

export function trialDto(overrides: Partial<TrialDto> = {}): TrialDto {
  return {
    id: 1,
    experimentId: 1,
    startTime: T0,
    endTime: '2025-03-01T11:00:00.000Z',
    state: 'STATE_COMPLETED',
    restarts: 0,
    hparams: { learning_rate: 0.01 },
    totalBatchesProcessed: 600,
    bestValidation: null,
    latestValidation: null,
    bestCheckpoint: null,
    runnerState: '',
    wallClockTime: 0,
    warmStartCheckpointUuid: '',
    taskId: 'task-1',
    taskIds: ['task-1'],
    totalCheckpointSize: '2048',
    checkpointCount: 2,
    summaryMetrics: {
      avg_metrics: { loss: { type: 'number', count: 6, min: 0.3, max: 0.95, last: 0.4 } },
      validation_metrics: {
        validation_loss: { type: 'number', count: 6, min: 0.25, max: 0.9, last: 0.35 },
        accuracy: { type: 'number', count: 6, min: 0.5, max: 0.9, last: 0.8 },
        note: { type: 'string', count: 6, last: 'hi' },
      },
    },
    searcherMetricValue: 0.25,
    ...overrides,
  };
}

export function checkpointDto(
  uuid: string,
  steps: number,
  overrides: {
    trialId?: number;
    searcherMetric?: number;
    state?: CheckpointDto['state'];
    /** The experiment's `checkpoint_storage`; experimentDto's shared_fs one by default. */
    checkpointStorage?: JsonObject;
  } = {},
): CheckpointDto {
  const trialId = overrides.trialId ?? 1;
  const validation =
    overrides.searcherMetric === undefined ? null : { validation_loss: overrides.searcherMetric };
  return {
    uuid,
    taskId: 'task-1',
    reportTime: T0,
    resources: { 'model.json': '120', 'weights.bin': '4096', 'sub/': '0' },
    metadata: { steps_completed: steps, framework: 'torch' },
    state: overrides.state ?? 'STATE_COMPLETED',
    training: {
      trialId,
      experimentId: 1,
      experimentConfig:
        overrides.checkpointStorage === undefined
          ? experimentDto().config
          : { ...experimentDto().config, checkpoint_storage: overrides.checkpointStorage },
      hparams: {},
      trainingMetrics: { avgMetrics: { loss: 0.5 }, batchMetrics: [] },
      validationMetrics: { avgMetrics: validation, batchMetrics: [] },
      ...(overrides.searcherMetric === undefined
        ? {}
        : { searcherMetric: overrides.searcherMetric }),
    },
  };
}

export function modelDto(overrides: Partial<ModelDto> = {}): ModelDto {
  const id = overrides.id ?? 1;
  return {
    id,
    name: `model-${id}`,
    description: '',
    notes: '',
    metadata: {},
    labels: [],
    creationTime: T0,
    lastUpdatedTime: T0,
    numVersions: 0,
    userId: 1,
    username: 'determined',
    workspaceId: 1,
    archived: false,
    ...overrides,
  };
}

/** Version `version` of `model`, registering checkpoint `uuid` of trial 7. */
export function modelVersionDto(
  model: ModelDto,
  version: number,
  uuid: string,
  overrides: Partial<ModelVersionDto> = {},
): ModelVersionDto {
  return {
    id: 100 + version,
    version,
    model,
    checkpoint: checkpointDto(uuid, version * 100, { trialId: 7 }),
    creationTime: T0,
    lastUpdatedTime: T0,
    name: '',
    comment: '',
    notes: '',
    metadata: {},
    labels: [],
    userId: 1,
    username: 'determined',
    aliases: [],
    ...overrides,
  };
}

export function modelAliasDto(alias: string, version: number): ModelAliasDto {
  return {
    alias,
    version,
    modelVersionId: 100 + version,
    updatedTime: T0,
    userId: 1,
    username: 'determined',
  };
}

export function modelAliasEventDto(
  id: number,
  alias: string,
  fromVersion: number | null,
  toVersion: number | null,
): ModelAliasEventDto {
  return { id, alias, fromVersion, toVersion, time: T0, userId: 1, username: 'determined' };
}

/** `GET /api/v1/master` of a Determined-TS master, which has model aliases. */
export const masterInfoRoute = {
  'GET /api/v1/master': () => ({
    version: '0.38.1',
    masterId: 'test',
    clusterId: 'test',
    clusterName: 'test',
    determinedTs: { modelAliases: true },
  }),
};
