// Training clients reporting metrics and checkpoints to a master over HTTP, keeping a ledger of
// which writes the master acknowledged and which were in flight when it went away.
import { randomUUID } from 'node:crypto';

import type { JsonObject } from '@determined-ts/api';

export interface LoadTrial {
  id: number;
  taskId: string;
  runId: number;
}

/** One report a client sends: a metrics report or a checkpoint registration. */
export interface Write {
  client: number;
  trial: LoadTrial;
  steps: number;
  path: string;
  body: JsonObject;
  metrics?: { group: string; avgMetrics: JsonObject };
  checkpoint?: {
    uuid: string;
    resources: Record<string, string>;
    metadata: JsonObject;
    reportTime: string;
  };
}

/** The searcher every trial of the load reports against. */
export const LOAD_SEARCHER = { metric: 'validation_loss', smallerIsBetter: true };

/**
 * Client `client`'s `seq`-th write. Two clients share each trial, on even and odd steps; each
 * round is a validation, a checkpoint at the same step, then training metrics. Metric values
 * are integers, so the trial summaries' sums are exact in any order.
 */
export function writeFor(client: number, seq: number, trials: readonly LoadTrial[]): Write {
  const trial = trials[client % trials.length] as LoadTrial;
  const round = Math.floor(seq / 3) + 1;
  const steps = 2 * round + (client < trials.length ? 0 : 1);
  const report = (group: string, avgMetrics: JsonObject): Write => ({
    client,
    trial,
    steps,
    path: `/api/v1/trials/${trial.id}/metrics`,
    body: {
      group,
      metrics: {
        trialId: trial.id,
        trialRunId: trial.runId,
        stepsCompleted: steps,
        reportTime: null,
        metrics: { avgMetrics, batchMetrics: null },
      },
    },
    metrics: { group, avgMetrics },
  });
  if (seq % 3 === 0) {
    return report('validation', {
      validation_loss: (client * 37 + round * 11) % 97,
      accuracy: round % 7,
    });
  }
  if (seq % 3 === 2) {
    return report('training', { loss: 1000 + ((client * 13 + round * 5) % 89), batches: steps });
  }
  // Now and then a checkpoint of many files, so its row is large.
  const files = round % 7 === 0 ? 120 : 1 + ((client + round) % 5);
  const resources: Record<string, string> = { 'metadata.json': '57' };
  for (let i = 0; i < files; i += 1) {
    resources[`shards/part-${String(i).padStart(4, '0')}.bin`] = String(4096 * i + client + round);
  }
  const metadata: JsonObject = {
    steps_completed: steps,
    framework: 'torch',
    format: 'pickle',
    client,
    round,
    note: 'n'.repeat((client * round * 31) % 3000),
  };
  const uuid = randomUUID();
  const reportTime = new Date().toISOString();
  return {
    client,
    trial,
    steps,
    path: '/api/v1/checkpoints',
    body: {
      uuid,
      taskId: trial.taskId,
      allocationId: null,
      reportTime,
      state: 'STATE_COMPLETED',
      resources,
      metadata,
      training: {},
      storageId: null,
    },
    checkpoint: { uuid, resources, metadata, reportTime },
  };
}

export interface Ledger {
  acked: Write[];
  /** Sent, but the connection failed before an answer: the master may or may not have it. */
  unacked: Write[];
  /** Answers that were neither 2xx nor a connection failure. */
  failures: string[];
}

export interface Load {
  ledger: Ledger;
  /** Resolves once `n` writes were acknowledged since the last `resetCount`. */
  waitForAcks(n: number): Promise<void>;
  resetCount(): void;
  /** Lets every client finish its current write, then stops them. */
  stop(): Promise<void>;
}

/** The error code under a failed fetch: `ECONNREFUSED` means the request never left. */
function causeCode(err: unknown): string | undefined {
  const cause = (err as { cause?: { code?: unknown } } | undefined)?.cause;
  return typeof cause?.code === 'string' ? cause.code : undefined;
}

/** Backoff between attempts to reach a master that is down: doubling, capped. */
const RETRY_FIRST_MS = 25;
const RETRY_MAX_MS = 250;

/** Starts `clients` clients writing to the master at `url` until `stop`. */
export function startLoad(options: {
  url: string;
  token: string;
  trials: readonly LoadTrial[];
  clients: number;
}): Load {
  const ledger: Ledger = { acked: [], unacked: [], failures: [] };
  let count = 0;
  let waiters: { n: number; resolve(): void }[] = [];
  let isStopped = false;

  const send = async (write: Write): Promise<'acked' | 'refused' | 'lost'> => {
    let res;
    try {
      res = await fetch(`${options.url}${write.path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${options.token}` },
        body: JSON.stringify(write.body),
        signal: AbortSignal.timeout(60_000),
      });
    } catch (err: unknown) {
      if (err instanceof Error && err.name === 'TimeoutError') {
        ledger.failures.push(`POST ${write.path}: no answer in 60 s`);
      }
      return causeCode(err) === 'ECONNREFUSED' ? 'refused' : 'lost';
    }
    let text;
    try {
      text = await res.text();
    } catch {
      // The answer was cut short: not acknowledged.
      return 'lost';
    }
    if (res.status < 200 || res.status > 299) {
      ledger.failures.push(`POST ${write.path}: ${res.status} ${text}`);
      return 'lost';
    }
    return 'acked';
  };

  const run = async (client: number): Promise<void> => {
    for (let seq = 0; !isStopped; seq += 1) {
      const write = writeFor(client, seq, options.trials);
      let outcome = await send(write);
      // Refused connections never reached a master: retry until one is back.
      for (let waitMs = RETRY_FIRST_MS; outcome === 'refused' && !isStopped;) {
        await new Promise((r) => setTimeout(r, waitMs));
        waitMs = Math.min(2 * waitMs, RETRY_MAX_MS);
        outcome = await send(write);
      }
      if (outcome === 'acked') {
        ledger.acked.push(write);
        count += 1;
        waiters = waiters.filter((w) => (count >= w.n ? (w.resolve(), false) : true));
      } else if (outcome === 'lost') {
        ledger.unacked.push(write);
      }
    }
  };
  const running = Array.from({ length: options.clients }, (_, c) => run(c));

  return {
    ledger,
    waitForAcks: (n) =>
      count >= n ? Promise.resolve() : new Promise((resolve) => waiters.push({ n, resolve })),
    resetCount: () => {
      count = 0;
    },
    stop: async () => {
      isStopped = true;
      await Promise.all(running);
    },
  };
}
