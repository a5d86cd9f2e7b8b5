import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

import {
  CHECKPOINT_SORT_BY,
  CHECKPOINT_STATES,
  ORDER_BY,
  clientHashPassword,
} from '@determined-ts/api';
import type { JsonObject } from '@determined-ts/api';

import { startHttpServer } from '../../storage/test/http-server.js';
import type { TestServer } from '../../storage/test/http-server.js';

export { startHttpServer };
export type { TestServer };

/*
 * A test server that answers the calls the SDK makes the way a real Determined v0.38.1 master
 * does, as ../shared/reference/determined-wire.md documents it (a real one cannot run here):
 *
 * - grpc-gateway JSON: int64 as strings (`resources`, `checkpointSize`), doubles as numbers or
 *   "NaN"/"Infinity"/"-Infinity", enums as full names, every non-optional field present,
 *   proto3-optional fields omitted when unset, timestamps RFC 3339 with `Z`;
 * - errors as `{"error":{"code","reason","error"}}` with the gateway's status mapping; 401 for a
 *   missing or unknown token; `v2.public.` tokens;
 * - `GET /api/v1/master` without our `determinedTs` extension;
 * - `GET /api/v1/trials/{id}/checkpoints` sorted exactly as §3.5.4 says: ascending when no
 *   orderBy (whatever smaller_is_better says), a missing key is "less" (first in ASC, last in
 *   DESC), ties by report time; `GET /api/v1/experiments/{id}/checkpoints` as §3.5.5;
 * - `offset`/`limit`/`states` and `pagination {offset, limit, startIndex, endIndex, total}`.
 *
 * It also injects faults (a status, a reset connection, a response that never comes) so client
 * tests can exercise retries and aborts over a real socket.
 */

// ---------------------------------------------------------------------------------------------
// A loopback HTTP server for tests.

/** A server on 127.0.0.1 and a free port; `close` also drops open and stalled connections. */
/** Reads a request body to the end. */
export async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) {
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

// ---------------------------------------------------------------------------------------------
// Data the fake serves.

export type FakeCheckpointState =
  'ACTIVE' | 'COMPLETED' | 'ERROR' | 'DELETED' | 'PARTIALLY_DELETED';

export interface FakeCheckpoint {
  uuid: string;
  trialId: number;
  state: FakeCheckpointState;
  /** RFC 3339; a Date is written with millisecond precision. */
  reportTime: string;
  /** `metadata.steps_completed`; absent from `metadata` when undefined. */
  steps: number | undefined;
  resources: Record<string, number>;
  metadata: JsonObject;
  storageId: number | undefined;
}

interface FakeExperiment {
  id: number;
  config: JsonObject;
  startTime: string;
}

interface FakeTrial {
  id: number;
  experimentId: number;
  hparams: JsonObject;
  startTime: string;
}

/** One request the fake received. */
export interface FakeRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  authorization: string | undefined;
}

/** What the fake does instead of answering: a status, a dropped connection, or nothing at all. */
export type Fault = { status: number; body?: string } | 'reset' | 'stall';

const STATE_NUMBERS: Record<FakeCheckpointState, number> = {
  ACTIVE: 1,
  COMPLETED: 2,
  ERROR: 3,
  DELETED: 4,
  PARTIALLY_DELETED: 5,
};

/** grpc code, reason and HTTP status, as grpc-gateway v1 maps them. */
const GRPC = {
  InvalidArgument: { code: 3, status: 400 },
  NotFound: { code: 5, status: 404 },
  Unauthenticated: { code: 16, status: 401 },
  Internal: { code: 13, status: 500 },
} as const;

class GrpcError extends Error {
  constructor(
    readonly reason: keyof typeof GRPC,
    message: string,
  ) {
    super(message);
  }
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json' },
  });
}

/** A metric value as the `checkpoints_view` casts it to float8: numbers and NaN/Inf strings. */
function asDouble(value: unknown): number | undefined {
  if (typeof value === 'number') {
    return value;
  }
  if (typeof value === 'string') {
    switch (value.toLowerCase()) {
      case 'nan':
        return Number.NaN;
      case 'infinity':
        return Number.POSITIVE_INFINITY;
      case '-infinity':
        return Number.NEGATIVE_INFINITY;
      default:
        return undefined;
    }
  }
  return undefined;
}

/** A double as grpc-gateway writes it. */
function wireDouble(value: number): number | string {
  if (Number.isNaN(value)) {
    return 'NaN';
  }
  if (!Number.isFinite(value)) {
    return value > 0 ? 'Infinity' : '-Infinity';
  }
  return value;
}

/** Determined's own `checkpointv1.SortBy`: ours without the Determined-TS `SORT_BY_SIZE`. */
const DETERMINED_CHECKPOINT_SORT_BY = CHECKPOINT_SORT_BY.filter(
  (v): v is Exclude<(typeof CHECKPOINT_SORT_BY)[number], 'SORT_BY_SIZE'> => v !== 'SORT_BY_SIZE',
);
type DeterminedCheckpointSortBy = (typeof DETERMINED_CHECKPOINT_SORT_BY)[number];

function parseEnum<T extends string>(values: readonly T[], raw: string, field: string): T {
  const byName = values.find((v) => v === raw);
  if (byName !== undefined) {
    return byName;
  }
  // grpc-gateway also takes the enum's number.
  const n = /^\d+$/.test(raw) ? values[Number(raw)] : undefined;
  if (n === undefined) {
    throw new GrpcError('InvalidArgument', `invalid value for enum field ${field}: ${raw}`);
  }
  return n;
}

function parseInt32(raw: string | null, field: string): number {
  if (raw === null || raw === '') {
    return 0;
  }
  if (!/^-?\d+$/.test(raw)) {
    throw new GrpcError('InvalidArgument', `invalid value for int32 field ${field}: ${raw}`);
  }
  return Number(raw);
}

/** The query value under its camelCase or snake_case name (grpc-gateway reads both). */
function queryValue(query: URLSearchParams, camel: string): string | null {
  const snake = camel.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
  return query.get(camel) ?? query.get(snake);
}

/**
 * A fake Determined v0.38.1 master. Seed it with `addExperiment`/`addTrial`/`addValidation`/
 * `addCheckpoint`, then `start()` it on loopback or call `handle` in-process.
 */
export class FakeDetermined {
  readonly requests: FakeRequest[] = [];
  readonly clusterId = 'c0ffee00-0000-4000-8000-000000000001';
  readonly #experiments = new Map<number, FakeExperiment>();
  readonly #trials = new Map<number, FakeTrial>();
  /** Insertion order; the listing starts from report time DESC as the real view query does. */
  readonly #checkpoints: FakeCheckpoint[] = [];
  /** `${trialId}/${steps}` → validation metrics; likewise for training. */
  readonly #validations = new Map<string, JsonObject>();
  readonly #training = new Map<string, JsonObject>();
  /** username → client-side password hash ('' for an empty password). */
  readonly #users = new Map<string, { id: number; hash: string; admin: boolean }>();
  readonly #tokens = new Map<string, string>();
  readonly #faults: { fault: Fault; match: (req: FakeRequest) => boolean }[] = [];
  readonly #waiters: { match: (req: FakeRequest) => boolean; resolve: (r: FakeRequest) => void }[] =
    [];
  #nextId = 1;
  #server: TestServer | undefined;

  constructor() {
    // Built-in users, with no password, as a fresh Determined cluster has them.
    this.#users.set('admin', { id: 1, hash: '', admin: true });
    this.#users.set('determined', { id: 2, hash: '', admin: false });
  }

  /** The loopback URL once `start` resolved. */
  get url(): string {
    if (this.#server === undefined) {
      throw new Error('the fake is not started');
    }
    return this.#server.url;
  }

  async addUser(username: string, password: string): Promise<void> {
    this.#users.set(username, {
      id: this.#users.size + 1,
      hash: await clientHashPassword(password),
      admin: false,
    });
  }

  /** A token for `username`, as if it had logged in. */
  tokenFor(username = 'determined'): string {
    const token = `v2.public.${randomBytes(48).toString('base64url')}`;
    this.#tokens.set(token, username);
    return token;
  }

  /** Adds an experiment; `searcher.smaller_is_better` is defaulted to true as expconf does. */
  addExperiment(
    opts: { metric?: string; smallerIsBetter?: boolean; storage?: JsonObject } = {},
  ): number {
    const id = this.#nextId++;
    this.#experiments.set(id, {
      id,
      startTime: '2025-01-01T00:00:00Z',
      config: {
        name: `fake-${id}`,
        searcher: {
          name: 'single',
          metric: opts.metric ?? 'validation_loss',
          smaller_is_better: opts.smallerIsBetter ?? true,
          max_length: { batches: 1000 },
        },
        checkpoint_storage: opts.storage ?? {
          type: 'shared_fs',
          host_path: '/tmp/fake-determined',
          storage_path: null,
          propagation: 'rprivate',
          save_experiment_best: 0,
          save_trial_best: 1,
          save_trial_latest: 1,
        },
        hyperparameters: { lr: { type: 'const', val: 0.01 } },
      },
    });
    return id;
  }

  addTrial(experimentId: number, hparams: JsonObject = { lr: 0.01 }): number {
    const id = this.#nextId++;
    this.#trials.set(id, { id, experimentId, hparams, startTime: '2025-01-01T00:00:01Z' });
    return id;
  }

  /** Reports validation metrics at `steps`; values are stored as given (e.g. "NaN"). */
  addValidation(trialId: number, steps: number, metrics: JsonObject): void {
    this.#validations.set(`${trialId}/${steps}`, metrics);
  }

  addTraining(trialId: number, steps: number, metrics: JsonObject): void {
    this.#training.set(`${trialId}/${steps}`, metrics);
  }

  addCheckpoint(c: {
    uuid: string;
    trialId: number;
    steps: number | undefined;
    reportTime: Date | string;
    state?: FakeCheckpointState;
    resources?: Record<string, number>;
    metadata?: JsonObject;
    storageId?: number;
  }): void {
    this.#checkpoints.push({
      uuid: c.uuid,
      trialId: c.trialId,
      state: c.state ?? 'COMPLETED',
      reportTime: typeof c.reportTime === 'string' ? c.reportTime : c.reportTime.toISOString(),
      steps: c.steps,
      resources: c.resources ?? { 'metadata.json': 57, 'state_dict.pth': 44563, 'code/': 0 },
      metadata: {
        determined_version: '0.38.1',
        ...(c.steps === undefined ? {} : { steps_completed: c.steps }),
        ...c.metadata,
      },
      storageId: c.storageId,
    });
  }

  /**
   * Makes the next `count` requests that `match` fail with `fault` instead of being answered.
   * Faults act on the socket, so they only apply over loopback.
   */
  failNext(fault: Fault, count = 1, match: (req: FakeRequest) => boolean = () => true): void {
    for (let i = 0; i < count; i += 1) {
      this.#faults.push({ fault, match });
    }
  }

  /** Resolves when a request that `match`es arrives from now on: no polling, no sleeps. */
  waitForRequest(match: (req: FakeRequest) => boolean): Promise<FakeRequest> {
    return new Promise((resolve) => this.#waiters.push({ match, resolve }));
  }

  #record(req: FakeRequest): void {
    this.requests.push(req);
    for (const w of [...this.#waiters]) {
      if (w.match(req)) {
        this.#waiters.splice(this.#waiters.indexOf(w), 1);
        w.resolve(req);
      }
    }
  }

  /** Requests whose path starts with `pathPrefix`, for assertions. */
  requestsTo(pathPrefix: string): FakeRequest[] {
    return this.requests.filter((r) => r.path.startsWith(pathPrefix));
  }

  async start(): Promise<this> {
    this.#server = await startHttpServer(async (req, res) => {
      const url = new URL(req.url ?? '/', 'http://fake');
      const seen: FakeRequest = {
        method: req.method ?? 'GET',
        path: url.pathname,
        query: url.searchParams,
        authorization: req.headers.authorization,
      };
      const i = this.#faults.findIndex((f) => f.match(seen));
      const fault = i < 0 ? undefined : this.#faults.splice(i, 1)[0]?.fault;
      if (fault === 'reset') {
        this.#record(seen);
        req.socket.destroy();
        return;
      }
      if (fault === 'stall') {
        // Never answer; `close` drops the connection.
        this.#record(seen);
        return;
      }
      if (fault !== undefined) {
        this.#record(seen);
        res.writeHead(fault.status, { 'content-type': 'application/json' });
        res.end(
          fault.body ??
            JSON.stringify({ error: { code: 14, reason: 'Unavailable', error: 'unavailable' } }),
        );
        return;
      }
      const body = await readBody(req);
      const headers = new Headers();
      for (const [k, v] of Object.entries(req.headers)) {
        if (typeof v === 'string') {
          headers.set(k, v);
        }
      }
      const answer = await this.handle(
        new Request(url, {
          method: req.method,
          headers,
          body: body.length > 0 ? new Uint8Array(body) : undefined,
        }),
      );
      res.writeHead(answer.status, Object.fromEntries(answer.headers));
      res.end(Buffer.from(await answer.arrayBuffer()));
    });
    return this;
  }

  async close(): Promise<void> {
    await this.#server?.close();
    this.#server = undefined;
  }

  /** Answers one request as the real master would (in-process use needs no `start`). */
  async handle(request: Request): Promise<Response> {
    const url = new URL(request.url);
    this.#record({
      method: request.method,
      path: url.pathname,
      query: url.searchParams,
      authorization: request.headers.get('authorization') ?? undefined,
    });
    try {
      return await this.#route(request, url);
    } catch (err: unknown) {
      if (err instanceof GrpcError) {
        const { code, status } = GRPC[err.reason];
        return json(status, { error: { code, reason: err.reason, error: err.message } });
      }
      throw err;
    }
  }

  async #route(request: Request, url: URL): Promise<Response> {
    const path = url.pathname.replace(/\/+$/, '');
    const method = request.method;
    if (method === 'GET' && path === '/api/v1/master') {
      return json(200, this.#masterInfo());
    }
    if (method === 'POST' && path === '/api/v1/auth/login') {
      return json(200, await this.#login(request));
    }
    const user = this.#authenticate(request);
    let m: RegExpMatchArray | null;
    if (method === 'GET' && path === '/api/v1/me') {
      return json(200, { user: this.#userDto(user) });
    }
    if (method === 'POST' && path === '/api/v1/auth/logout') {
      const token = request.headers.get('authorization')?.replace(/^Bearer /, '');
      if (token !== undefined) {
        this.#tokens.delete(token);
      }
      return json(200, {});
    }
    if (method === 'GET' && (m = path.match(/^\/api\/v1\/trials\/([^/]+)$/)) !== null) {
      const trial = this.#trial(m[1] ?? '');
      return json(200, { trial: this.#trialDto(trial) });
    }
    if (
      method === 'GET' &&
      (m = path.match(/^\/api\/v1\/trials\/([^/]+)\/checkpoints$/)) !== null
    ) {
      const trial = this.#trial(m[1] ?? '');
      const rows = this.#checkpoints.filter((c) => c.trialId === trial.id);
      return json(200, this.#list(rows, url.searchParams, { experimentScope: undefined }));
    }
    if (method === 'GET' && (m = path.match(/^\/api\/v1\/experiments\/([^/]+)$/)) !== null) {
      const experiment = this.#experiment(m[1] ?? '');
      return json(200, { experiment: this.#experimentDto(experiment), config: experiment.config });
    }
    if (
      method === 'GET' &&
      (m = path.match(/^\/api\/v1\/experiments\/([^/]+)\/checkpoints$/)) !== null
    ) {
      const experiment = this.#experiment(m[1] ?? '');
      const rows = this.#checkpoints.filter(
        (c) => this.#trials.get(c.trialId)?.experimentId === experiment.id,
      );
      return json(200, this.#list(rows, url.searchParams, { experimentScope: experiment }));
    }
    if (method === 'GET' && (m = path.match(/^\/api\/v1\/checkpoints\/([^/]+)$/)) !== null) {
      const uuid = decodeURIComponent(m[1] ?? '');
      if (!UUID_RE.test(uuid)) {
        // Determined parses the uuid in the database query, so a bad one is a 500, not a 400.
        throw new GrpcError('Internal', `invalid input syntax for type uuid: "${uuid}"`);
      }
      const c = this.#checkpoints.find((x) => x.uuid === uuid.toLowerCase());
      if (c === undefined) {
        throw new GrpcError('NotFound', `checkpoint '${uuid}' not found`);
      }
      return json(200, { checkpoint: this.#checkpointDto(c) });
    }
    throw new GrpcError('NotFound', 'Not Found');
  }

  #masterInfo(): JsonObject {
    return {
      version: '0.38.1',
      masterId: 'fake-master',
      clusterId: this.clusterId,
      clusterName: '',
      telemetryEnabled: false,
      hasCustomLogo: false,
      externalLoginUri: '',
      externalLogoutUri: '',
      branding: 'determined',
      rbacEnabled: false,
      strictJobQueueControl: false,
      product: 'PRODUCT_UNSPECIFIED',
      userManagementEnabled: true,
      featureSwitches: [],
      clusterMessage: null,
      ssoProviders: [],
    };
  }

  async #login(request: Request): Promise<JsonObject> {
    let body: { username?: unknown; password?: unknown; isHashed?: unknown };
    try {
      body = (await request.json()) as typeof body;
    } catch {
      throw new GrpcError('InvalidArgument', 'invalid request body');
    }
    const username = typeof body.username === 'string' ? body.username : '';
    if (username === '') {
      throw new GrpcError('InvalidArgument', 'missing argument: username');
    }
    const password = typeof body.password === 'string' ? body.password : '';
    const user = this.#users.get(username);
    const hashed = body.isHashed === true ? password : await clientHashPassword(password);
    if (user === undefined || user.hash !== hashed) {
      throw new GrpcError('Unauthenticated', 'invalid credentials');
    }
    return { token: this.tokenFor(username), user: this.#userDto(username) };
  }

  #authenticate(request: Request): string {
    const header = request.headers.get('authorization');
    if (header === null) {
      throw new GrpcError('Unauthenticated', 'token missing');
    }
    const user = this.#tokens.get(header.replace(/^Bearer /, ''));
    if (user === undefined) {
      throw new GrpcError('Unauthenticated', 'invalid credentials');
    }
    return user;
  }

  #userDto(username: string): JsonObject {
    const u = this.#users.get(username);
    return {
      id: u?.id ?? 0,
      username,
      admin: u?.admin ?? false,
      active: true,
      agentUserGroup: null,
      displayName: '',
      modifiedAt: '2025-01-01T00:00:00Z',
      remote: false,
    };
  }

  #trial(raw: string): FakeTrial {
    const id = parseInt32(raw, 'trialId');
    const trial = this.#trials.get(id);
    if (trial === undefined) {
      throw new GrpcError('NotFound', `trial '${id}' not found`);
    }
    return trial;
  }

  #experiment(raw: string): FakeExperiment {
    const id = parseInt32(raw, 'experimentId');
    const experiment = this.#experiments.get(id);
    if (experiment === undefined) {
      throw new GrpcError('NotFound', `experiment '${id}' not found`);
    }
    return experiment;
  }

  #searcherOf(trialId: number): { metric: string; smallerIsBetter: boolean } {
    const experiment = this.#experiments.get(this.#trials.get(trialId)?.experimentId ?? -1);
    const searcher = (experiment?.config.searcher ?? {}) as JsonObject;
    return {
      metric: typeof searcher.metric === 'string' ? searcher.metric : '',
      smallerIsBetter: searcher.smaller_is_better !== false,
    };
  }

  #validationOf(c: FakeCheckpoint): JsonObject | null {
    return c.steps === undefined
      ? null
      : (this.#validations.get(`${c.trialId}/${c.steps}`) ?? null);
  }

  /** `training.searcherMetric`: the raw validation value of the searcher metric, as float8. */
  #searcherMetricOf(c: FakeCheckpoint): number | undefined {
    return asDouble(this.#validationOf(c)?.[this.#searcherOf(c.trialId).metric]);
  }

  #checkpointDto(c: FakeCheckpoint): JsonObject {
    const trial = this.#trials.get(c.trialId);
    const experiment = this.#experiments.get(trial?.experimentId ?? -1);
    const searcherMetric = this.#searcherMetricOf(c);
    const taskId = `${c.trialId}.7d1e0000-0000-4000-8000-000000000000`;
    return {
      uuid: c.uuid,
      taskId,
      allocationId: `${taskId}.0`,
      reportTime: c.reportTime,
      resources: Object.fromEntries(Object.entries(c.resources).map(([k, v]) => [k, String(v)])),
      metadata: c.metadata,
      state: `STATE_${c.state}`,
      training: {
        trialId: c.trialId,
        experimentId: experiment?.id,
        experimentConfig: experiment?.config ?? null,
        hparams: trial?.hparams ?? null,
        trainingMetrics: {
          avgMetrics:
            c.steps === undefined ? null : (this.#training.get(`${c.trialId}/${c.steps}`) ?? null),
          batchMetrics: [],
        },
        validationMetrics: { avgMetrics: this.#validationOf(c), batchMetrics: [] },
        ...(searcherMetric === undefined ? {} : { searcherMetric: wireDouble(searcherMetric) }),
      },
      ...(c.storageId === undefined ? {} : { storageId: c.storageId }),
    };
  }

  #trialDto(t: FakeTrial): JsonObject {
    const mine = this.#checkpoints.filter((c) => c.trialId === t.id);
    const size = mine.reduce(
      (sum, c) => sum + Object.values(c.resources).reduce((a, b) => a + b, 0),
      0,
    );
    const taskId = `${t.id}.7d1e0000-0000-4000-8000-000000000000`;
    return {
      id: t.id,
      experimentId: t.experimentId,
      startTime: t.startTime,
      endTime: null,
      state: 'STATE_ACTIVE',
      restarts: 0,
      hparams: t.hparams,
      totalBatchesProcessed: Math.max(0, ...mine.map((c) => c.steps ?? 0)),
      bestValidation: null,
      latestValidation: null,
      bestCheckpoint: null,
      runnerState: '',
      wallClockTime: 0,
      warmStartCheckpointUuid: '',
      taskId,
      taskIds: [taskId],
      totalCheckpointSize: String(size),
      checkpointCount: mine.length,
      summaryMetrics: {},
    };
  }

  #experimentDto(e: FakeExperiment): JsonObject {
    const trialIds = [...this.#trials.values()]
      .filter((t) => t.experimentId === e.id)
      .map((t) => t.id);
    const mine = this.#checkpoints.filter((c) => trialIds.includes(c.trialId));
    const size = mine.reduce(
      (sum, c) => sum + Object.values(c.resources).reduce((a, b) => a + b, 0),
      0,
    );
    const searcher = e.config.searcher as JsonObject;
    return {
      id: e.id,
      name: e.config.name,
      description: '',
      labels: [],
      startTime: e.startTime,
      endTime: null,
      state: 'STATE_ACTIVE',
      archived: false,
      numTrials: trialIds.length,
      trialIds,
      displayName: '',
      userId: 2,
      username: 'determined',
      resourcePool: 'default',
      searcherType: 'single',
      searcherMetric: searcher.metric,
      hyperparameters: {},
      notes: '',
      jobId: `job-${e.id}`,
      forkedFrom: null,
      progress: null,
      projectId: 1,
      projectName: 'Uncategorized',
      workspaceId: 1,
      workspaceName: 'Uncategorized',
      parentArchived: false,
      config: e.config,
      originalConfig: `name: ${String(e.config.name)}\n`,
      projectOwnerId: 1,
      checkpointSize: String(size),
      checkpointCount: mine.length,
      unmanaged: false,
    };
  }

  /**
   * Determined's ordering (§3.5.4): `less(a, b)` by the key, a missing key is "less", equal keys
   * by report time; ORDER_BY_DESC swaps the arguments. The experiment endpoint's searcher-metric
   * sort (§3.5.5) takes the searcher's direction and puts a missing metric last in both.
   */
  #comparator(
    list: FakeCheckpoint[],
    q: {
      sortByAttr: DeterminedCheckpointSortBy | undefined;
      sortByMetric: string | null;
      orderBy: (typeof ORDER_BY)[number];
    },
    scope: { experimentScope: FakeExperiment | undefined },
  ): (a: FakeCheckpoint, b: FakeCheckpoint) => number {
    type Key = number | string | undefined;
    const time = (c: FakeCheckpoint): number => Date.parse(c.reportTime);
    const byKey =
      (key: (c: FakeCheckpoint) => Key) =>
      (a: FakeCheckpoint, b: FakeCheckpoint): boolean => {
        const ka = key(a);
        const kb = key(b);
        if (ka === undefined || kb === undefined) {
          return ka === undefined && kb === undefined ? time(a) < time(b) : ka === undefined;
        }
        if (ka < kb) {
          return true;
        }
        if (kb < ka) {
          return false;
        }
        // Equal keys, and NaN (which Go's float compare never orders), go by report time.
        return time(a) < time(b);
      };
    let desc = q.orderBy === 'ORDER_BY_DESC';
    let missingLast: ((c: FakeCheckpoint) => Key) | undefined;
    let less: (a: FakeCheckpoint, b: FakeCheckpoint) => boolean;
    const metricName = q.sortByMetric;
    if (metricName !== null) {
      const values = list.map((c) => this.#validationOf(c)?.[metricName]);
      if (list.length > 1 && values.some((v) => v !== undefined && typeof v !== 'number')) {
        // A string such as "NaN" fails Go's float64 type assertion inside sort.Slice.
        throw new GrpcError(
          'Internal',
          'interface conversion: interface {} is string, not float64',
        );
      }
      less = byKey((c) => {
        const v = this.#validationOf(c)?.[metricName];
        return typeof v === 'number' ? v : undefined;
      });
    } else {
      switch (q.sortByAttr ?? 'SORT_BY_UNSPECIFIED') {
        case 'SORT_BY_UUID':
          less = (a, b) => a.uuid < b.uuid;
          break;
        case 'SORT_BY_TRIAL_ID':
          less = byKey((c) => c.trialId);
          break;
        case 'SORT_BY_BATCH_NUMBER':
          less = byKey((c) => c.steps);
          break;
        case 'SORT_BY_END_TIME':
          less = (a, b) => time(a) < time(b);
          break;
        case 'SORT_BY_STATE':
          less = byKey((c) => STATE_NUMBERS[c.state]);
          break;
        case 'SORT_BY_SEARCHER_METRIC': {
          const key = (c: FakeCheckpoint): Key => this.#searcherMetricOf(c);
          less = byKey(key);
          const experiment = scope.experimentScope;
          if (experiment !== undefined) {
            const searcher = experiment.config.searcher as JsonObject;
            if (q.orderBy === 'ORDER_BY_UNSPECIFIED') {
              desc = searcher.smaller_is_better === false;
            }
            missingLast = key;
          }
          break;
        }
        case 'SORT_BY_UNSPECIFIED':
          less = (a, b) => a.trialId < b.trialId || (a.trialId === b.trialId && time(a) < time(b));
          break;
      }
    }
    return (a, b) => {
      if (missingLast !== undefined) {
        const ma = missingLast(a) === undefined;
        const mb = missingLast(b) === undefined;
        if (ma !== mb) {
          return ma ? 1 : -1;
        }
      }
      const [x, y] = desc ? [b, a] : [a, b];
      return less(x, y) ? -1 : less(y, x) ? 1 : 0;
    };
  }

  /**
   * `GetTrialCheckpoints` / `GetExperimentCheckpoints`: all rows by report time DESC, filtered
   * by state, sorted with Determined's comparator, then paginated.
   */
  #list(
    rows: FakeCheckpoint[],
    query: URLSearchParams,
    scope: { experimentScope: FakeExperiment | undefined },
  ): JsonObject {
    const rawAttr = queryValue(query, 'sortByAttr');
    const sortByMetric = queryValue(query, 'sortByMetric');
    if (rawAttr !== null && sortByMetric !== null) {
      throw new GrpcError('InvalidArgument', 'field already set for oneof "sort_by"');
    }
    const sortByAttr =
      rawAttr === null
        ? undefined
        : parseEnum(DETERMINED_CHECKPOINT_SORT_BY, rawAttr, 'sortByAttr');
    const rawOrder = queryValue(query, 'orderBy');
    const orderBy =
      rawOrder === null ? 'ORDER_BY_UNSPECIFIED' : parseEnum(ORDER_BY, rawOrder, 'orderBy');
    const states = query.getAll('states').map((s) => parseEnum(CHECKPOINT_STATES, s, 'states'));
    const offset = parseInt32(queryValue(query, 'offset'), 'offset');
    const limit = parseInt32(queryValue(query, 'limit'), 'limit');

    const time = (c: FakeCheckpoint): number => Date.parse(c.reportTime);
    let list = [...rows].sort((a, b) => time(b) - time(a));
    if (states.length > 0) {
      list = list.filter((c) => states.includes(`STATE_${c.state}`));
    }
    list.sort(this.#comparator(list, { sortByAttr, sortByMetric, orderBy }, scope));

    const total = list.length;
    const startIndex = offset < 0 ? total + offset : offset;
    if (startIndex < 0 || startIndex > total) {
      throw new GrpcError('InvalidArgument', `offset out of bounds: ${offset} (total ${total})`);
    }
    const endIndex = limit === 0 ? total : Math.min(startIndex + limit, total);
    return {
      checkpoints: list.slice(startIndex, endIndex).map((c) => this.#checkpointDto(c)),
      pagination: { offset, limit, startIndex, endIndex, total },
    };
  }
}

/** Starts a fake Determined master on loopback. */
export function startFakeDetermined(): Promise<FakeDetermined> {
  return new FakeDetermined().start();
}
