import { readBody, startHttpServer } from './fake-determined.js';

/*
 * A master on a loopback port that answers each route exactly as a test scripts it, garbage
 * included (truncated JSON, a proxy's HTML page, wrong types, error bodies with a 200). Routes
 * are `METHOD /path` without the query; an unscripted one is a 404 in Determined's error shape.
 */

export interface ScriptedAnswer {
  /** @default 200 */
  status?: number;
  /** @default { 'content-type': 'application/json' } */
  headers?: Record<string, string>;
  body: string;
}

export interface ScriptedMaster {
  url: string;
  /** Every request received, as `METHOD /path`, in order. */
  seen: string[];
  /**
   * Scripts the answer to `route` (`GET /api/v1/trials/7`), replacing any before: a
   * ScriptedAnswer, or any other value to send as a 200 JSON body.
   */
  answer(route: string, answer: unknown): void;
  close(): Promise<void>;
}

/** Starts a scripted master on 127.0.0.1 and a free port. */
export async function startScriptedMaster(): Promise<ScriptedMaster> {
  const routes = new Map<string, ScriptedAnswer>();
  const seen: string[] = [];
  const server = await startHttpServer(async (req, res) => {
    await readBody(req);
    const route = `${req.method ?? 'GET'} ${new URL(req.url ?? '/', 'http://x').pathname}`;
    seen.push(route);
    const answer = routes.get(route) ?? {
      status: 404,
      body: JSON.stringify({ error: { code: 5, reason: 'NotFound', error: `no ${route}` } }),
    };
    res.writeHead(answer.status ?? 200, answer.headers ?? { 'content-type': 'application/json' });
    res.end(answer.body);
  });
  return {
    url: server.url,
    seen,
    answer(route, answer) {
      const isScripted =
        answer !== null &&
        typeof answer === 'object' &&
        'body' in answer &&
        typeof answer.body === 'string';
      routes.set(route, isScripted ? (answer as ScriptedAnswer) : { body: JSON.stringify(answer) });
    },
    close: () => server.close(),
  };
}

/** An nginx 502 page, as a proxy in front of a master sends it. */
export const NGINX_502 = `<html>
<head><title>502 Bad Gateway</title></head>
<body>
<center><h1>502 Bad Gateway</h1></center>
<hr><center>nginx/1.25.3</center>
</body>
</html>
${'<!-- a padding to disable MSIE and Chrome friendly error page -->\n'.repeat(6)}`;

/** A single-sign-on page, as a proxy that wants a browser login answers any request (with a 200). */
export const SSO_PAGE = `<!DOCTYPE html><html><head><meta charset="utf-8"><title>Sign in - Corp SSO</title></head><body>${'<div>…</div>'.repeat(200)}</body></html>`;

export function wireUser(): Record<string, unknown> {
  return { id: 1, username: 'determined', displayName: '', admin: false, active: true };
}

export function wireLogin(): Record<string, unknown> {
  return { token: 'v2.public.scripted', user: wireUser() };
}

export function wireTrial(id: number): Record<string, unknown> {
  return {
    id,
    experimentId: 1,
    startTime: '2025-01-01T00:00:01Z',
    endTime: null,
    state: 'STATE_COMPLETED',
    restarts: 0,
    hparams: {},
    totalBatchesProcessed: 300,
    bestValidation: null,
    latestValidation: null,
    bestCheckpoint: null,
    taskId: `${id}.task`,
    totalCheckpointSize: '0',
    checkpointCount: 1,
    summaryMetrics: null,
  };
}

/** A COMPLETED checkpoint of trial `trialId` with one validation; `overrides` replace fields. */
export function wireCheckpoint(
  uuid: string,
  trialId: number,
  overrides: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    uuid,
    taskId: `${trialId}.task`,
    allocationId: null,
    reportTime: '2025-01-01T00:05:00Z',
    resources: { 'metadata.json': '2', 'w.bin': '4' },
    metadata: { steps_completed: 300 },
    state: 'STATE_COMPLETED',
    training: {
      trialId,
      experimentId: 1,
      experimentConfig: {
        searcher: { name: 'single', metric: 'loss', smaller_is_better: true },
        checkpoint_storage: { type: 'shared_fs', host_path: '/nonexistent' },
      },
      hparams: {},
      trainingMetrics: { avgMetrics: null, batchMetrics: [] },
      validationMetrics: { avgMetrics: { loss: 0.5 }, batchMetrics: [] },
      searcherMetric: 0.5,
    },
    storageId: null,
    ...overrides,
  };
}

export function wirePagination(count: number): Record<string, unknown> {
  return { offset: 0, limit: count, startIndex: 0, endIndex: count, total: count };
}
