import { randomBytes } from 'node:crypto';

import type { JsonObject } from '@determined-ts/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { FakeDetermined } from '../test/fake-determined.js';
import {
  createTrial,
  markCheckpoint,
  masterTargets,
  recordingFetch,
  reportCheckpoint,
  reportMetrics,
  tempDir,
} from '../test/master.js';
import type { MasterTarget, RecordedRequest } from '../test/master.js';
import { listCheckpointsPage } from './api/checkpoints.js';
import { createClient } from './client.js';
import type { Client, FetchLike } from './client.js';
import { ArgumentError, NetworkError, NoCheckpointError } from './errors.js';
import { SELECTION_RULES } from './selection.js';
import type { CheckpointSelection, TopCheckpointOptions } from './selection.js';
import { TrialReference } from './trial-reference.js';

/*
 * TrialReference against three targets: the real master in-process (each dialect), the real
 * master over loopback, and the fake Determined v0.38.1 master. The same scenario table runs on
 * each, so the SDK's answer is the same whether the server applies DESIGN.md's rules (ours,
 * one `limit=1` request) or the SDK does (Determined's wrong default order).
 */

type State = 'COMPLETED' | 'DELETED' | 'PARTIALLY_DELETED' | 'ACTIVE' | 'ERROR';

interface CheckpointSpec {
  name: string;
  /** `undefined`: no steps_completed (only a real Determined master stores such checkpoints). */
  steps: number | undefined;
  /** Report time, seconds after BASE_TIME. */
  at: number;
  state?: State;
  /** Orders uuids within a scenario; defaults to the position in the list. */
  rank?: number;
  /** Reported on another trial (of another experiment). */
  otherTrial?: boolean;
}

type Selection =
  | { select: CheckpointSelection }
  | { top: TopCheckpointOptions }
  /** A uuid selection by checkpoint name (`?` = a uuid nothing has). */
  | { uuidOf: string };

interface Scenario {
  name: string;
  searcher?: { metric?: string; smallerIsBetter?: boolean };
  /** steps → validation metrics of the scenario's trial. */
  validations?: Record<number, JsonObject>;
  checkpoints: CheckpointSpec[];
  selection: Selection;
  /** The name of the checkpoint selected, or the NoCheckpointError rule it fails with. */
  expected: string | { rule: RegExp };
  /** Scenarios only a real Determined master can hold (states our master never stores). */
  fakeOnly?: boolean;
}

const BASE_TIME = Date.parse('2025-01-01T00:00:00Z');
const BEST = { top: {} };
const LATEST = { select: { latest: true as const } };

const SCENARIOS: Scenario[] = [
  {
    name: 'best: the smallest searcher value by default',
    validations: {
      100: { validation_loss: 0.5 },
      200: { validation_loss: 0.3 },
      300: { validation_loss: 0.4 },
    },
    checkpoints: [
      { name: 'a', steps: 100, at: 1 },
      { name: 'b', steps: 200, at: 2 },
      { name: 'c', steps: 300, at: 3 },
    ],
    selection: BEST,
    expected: 'b',
  },
  {
    name: 'best: the largest value when searcher.smaller_is_better is false',
    searcher: { metric: 'accuracy', smallerIsBetter: false },
    validations: { 100: { accuracy: 0.5 }, 200: { accuracy: 0.9 }, 300: { accuracy: 0.7 } },
    checkpoints: [
      { name: 'a', steps: 100, at: 1 },
      { name: 'b', steps: 200, at: 2 },
      { name: 'c', steps: 300, at: 3 },
    ],
    selection: BEST,
    expected: 'b',
  },
  {
    name: 'best: smaller_is_better defaults to true when the config omits it',
    searcher: { metric: 'validation_loss', smallerIsBetter: undefined },
    validations: { 100: { validation_loss: 0.2 }, 200: { validation_loss: 0.9 } },
    checkpoints: [
      { name: 'a', steps: 100, at: 1 },
      { name: 'b', steps: 200, at: 2 },
    ],
    selection: { select: { best: true } },
    expected: 'a',
  },
  {
    name: 'best: sortBy and smallerIsBetter override the searcher (larger accuracy)',
    validations: {
      100: { validation_loss: 0.1, accuracy: 0.6 },
      200: { validation_loss: 0.5, accuracy: 0.8 },
      300: { validation_loss: 0.3, accuracy: 0.7 },
    },
    checkpoints: [
      { name: 'a', steps: 100, at: 1 },
      { name: 'b', steps: 200, at: 2 },
      { name: 'c', steps: 300, at: 3 },
    ],
    selection: { top: { sortBy: 'accuracy', smallerIsBetter: false } },
    expected: 'b',
  },
  {
    name: 'best: smallerIsBetter true wins over a larger-is-better searcher',
    searcher: { metric: 'accuracy', smallerIsBetter: false },
    validations: { 100: { accuracy: 0.6 }, 200: { accuracy: 0.2 }, 300: { accuracy: 0.7 } },
    checkpoints: [
      { name: 'a', steps: 100, at: 1 },
      { name: 'b', steps: 200, at: 2 },
      { name: 'c', steps: 300, at: 3 },
    ],
    selection: { select: { best: true, sortBy: 'accuracy', smallerIsBetter: true } },
    expected: 'b',
  },
  {
    name: 'best: NaN, ±Infinity, missing and non-numeric values never count (smaller)',
    validations: {
      100: { validation_loss: 'NaN' },
      200: { validation_loss: '-Infinity' },
      300: { validation_loss: 'Infinity' },
      400: { validation_loss: '0.01' },
      500: { other: 0.0001 },
      600: { validation_loss: true },
      700: { validation_loss: 0.9 },
      800: { validation_loss: 0.5 },
      900: { validation_loss: null },
    },
    checkpoints: [100, 200, 300, 400, 500, 600, 700, 800, 900].map((steps, i) => ({
      name: String(steps),
      steps,
      at: i,
    })),
    selection: BEST,
    expected: '800',
  },
  {
    name: 'best: NaN (any casing), Infinity and strings never count (larger, by sortBy)',
    validations: {
      100: { accuracy: 'Infinity' },
      200: { accuracy: 'Nan' },
      300: { accuracy: 0.3 },
      400: { accuracy: '99' },
      500: { accuracy: 0.2 },
    },
    checkpoints: [100, 200, 300, 400, 500].map((steps, i) => ({
      name: String(steps),
      steps,
      at: i,
    })),
    selection: { top: { sortBy: 'accuracy', smallerIsBetter: false } },
    expected: '300',
  },
  {
    name: 'best: a checkpoint needs a validation at its own steps_completed',
    validations: { 150: { validation_loss: 0.01 }, 200: { validation_loss: 0.7 } },
    checkpoints: [
      { name: 'a', steps: 100, at: 1 },
      { name: 'b', steps: 200, at: 2 },
      { name: 'c', steps: 300, at: 3 },
    ],
    selection: BEST,
    expected: 'b',
  },
  {
    name: 'best: only COMPLETED checkpoints count',
    validations: {
      100: { validation_loss: 0.1 },
      200: { validation_loss: 0.2 },
      300: { validation_loss: 0.3 },
    },
    checkpoints: [
      { name: 'a', steps: 100, at: 1, state: 'DELETED' },
      { name: 'b', steps: 200, at: 2, state: 'PARTIALLY_DELETED' },
      { name: 'c', steps: 300, at: 3 },
    ],
    selection: BEST,
    expected: 'c',
  },
  {
    name: 'best: ACTIVE and ERROR checkpoints do not count',
    fakeOnly: true,
    validations: {
      100: { validation_loss: 0.1 },
      200: { validation_loss: 0.2 },
      300: { validation_loss: 0.3 },
    },
    checkpoints: [
      { name: 'a', steps: 100, at: 1, state: 'ACTIVE' },
      { name: 'b', steps: 200, at: 2, state: 'ERROR' },
      { name: 'c', steps: 300, at: 3 },
    ],
    selection: BEST,
    expected: 'c',
  },
  {
    name: 'best: a tie goes to the larger steps_completed, whatever the report times',
    validations: {
      100: { validation_loss: 0.2 },
      200: { validation_loss: 0.2 },
      300: { validation_loss: 0.5 },
    },
    checkpoints: [
      { name: 'a', steps: 100, at: 50, rank: 1 },
      { name: 'b', steps: 200, at: 10, rank: 2 },
      { name: 'c', steps: 300, at: 60, rank: 3 },
    ],
    selection: BEST,
    expected: 'b',
  },
  {
    name: 'best: then to the later reportTime, whatever the uuids',
    validations: { 200: { validation_loss: 0.2 }, 100: { validation_loss: 0.4 } },
    checkpoints: [
      { name: 'early', steps: 200, at: 10, rank: 1 },
      { name: 'late', steps: 200, at: 20, rank: 2 },
      { name: 'other', steps: 100, at: 30, rank: 3 },
    ],
    selection: BEST,
    expected: 'late',
  },
  {
    name: 'best: then to the smaller uuid',
    validations: { 200: { validation_loss: 0.2 } },
    checkpoints: [
      { name: 'big', steps: 200, at: 10, rank: 9 },
      { name: 'small', steps: 200, at: 10, rank: 1 },
      { name: 'mid', steps: 200, at: 10, rank: 5 },
    ],
    selection: BEST,
    expected: 'small',
  },
  {
    name: 'best: no checkpoint has a validation → NoCheckpointError',
    validations: { 150: { validation_loss: 0.1 } },
    checkpoints: [
      { name: 'a', steps: 100, at: 1 },
      { name: 'b', steps: 200, at: 2 },
    ],
    selection: BEST,
    expected: { rule: /^best: .*finite value for 'validation_loss'/ },
  },
  {
    name: 'best: a trial without checkpoints → NoCheckpointError',
    checkpoints: [],
    selection: BEST,
    expected: { rule: /^best: .*'validation_loss'/ },
  },
  {
    name: 'best: sortBy names a metric no validation has → NoCheckpointError',
    validations: { 100: { validation_loss: 0.1 } },
    checkpoints: [{ name: 'a', steps: 100, at: 1 }],
    selection: { top: { sortBy: 'f1', smallerIsBetter: false } },
    expected: { rule: /^best: .*'f1'/ },
  },
  {
    name: 'best: only non-COMPLETED checkpoints have values → NoCheckpointError',
    validations: { 100: { validation_loss: 0.1 }, 200: { validation_loss: 0.2 } },
    checkpoints: [
      { name: 'a', steps: 100, at: 1, state: 'DELETED' },
      { name: 'b', steps: 200, at: 2, state: 'PARTIALLY_DELETED' },
      { name: 'c', steps: 300, at: 3 },
    ],
    selection: BEST,
    expected: { rule: /^best: no COMPLETED checkpoint/ },
  },
  {
    name: 'best: checkpoints without steps_completed never count',
    fakeOnly: true,
    validations: { 100: { validation_loss: 0.5 } },
    checkpoints: [
      { name: 'nosteps', steps: undefined, at: 5 },
      { name: 'a', steps: 100, at: 1 },
    ],
    selection: BEST,
    expected: 'a',
  },
  {
    name: 'latest: the largest steps_completed, whatever the report times and metrics',
    validations: { 100: { validation_loss: 0.1 } },
    checkpoints: [
      { name: 'a', steps: 300, at: 10 },
      { name: 'b', steps: 100, at: 30 },
      { name: 'c', steps: 200, at: 20 },
    ],
    selection: LATEST,
    expected: 'a',
  },
  {
    name: 'latest: only COMPLETED checkpoints count',
    checkpoints: [
      { name: 'a', steps: 300, at: 1 },
      { name: 'b', steps: 400, at: 2, state: 'DELETED' },
      { name: 'c', steps: 500, at: 3, state: 'PARTIALLY_DELETED' },
    ],
    selection: LATEST,
    expected: 'a',
  },
  {
    name: 'latest: ACTIVE and ERROR checkpoints do not count',
    fakeOnly: true,
    checkpoints: [
      { name: 'a', steps: 300, at: 1 },
      { name: 'b', steps: 400, at: 2, state: 'ACTIVE' },
      { name: 'c', steps: 500, at: 3, state: 'ERROR' },
    ],
    selection: LATEST,
    expected: 'a',
  },
  {
    name: 'latest: a tie on steps goes to the later reportTime',
    checkpoints: [
      { name: 'early', steps: 300, at: 1, rank: 1 },
      { name: 'late', steps: 300, at: 2, rank: 2 },
      { name: 'lower', steps: 200, at: 3, rank: 3 },
    ],
    selection: LATEST,
    expected: 'late',
  },
  {
    name: 'latest: then to the smaller uuid',
    checkpoints: [
      { name: 'big', steps: 300, at: 1, rank: 7 },
      { name: 'small', steps: 300, at: 1, rank: 2 },
    ],
    selection: LATEST,
    expected: 'small',
  },
  {
    name: 'latest: checkpoints without steps_completed never count',
    fakeOnly: true,
    checkpoints: [
      { name: 'nosteps', steps: undefined, at: 9 },
      { name: 'a', steps: 100, at: 1 },
    ],
    selection: LATEST,
    expected: 'a',
  },
  {
    name: 'latest: no COMPLETED checkpoint → NoCheckpointError',
    checkpoints: [{ name: 'a', steps: 100, at: 1, state: 'DELETED' }],
    selection: LATEST,
    expected: { rule: /^latest: no COMPLETED checkpoint/ },
  },
  {
    name: 'uuid: a COMPLETED checkpoint of this trial',
    checkpoints: [
      { name: 'a', steps: 100, at: 1 },
      { name: 'b', steps: 200, at: 2 },
    ],
    selection: { uuidOf: 'a' },
    expected: 'a',
  },
  {
    name: 'uuid: a checkpoint of another trial → NoCheckpointError',
    checkpoints: [
      { name: 'a', steps: 100, at: 1 },
      { name: 'elsewhere', steps: 100, at: 1, otherTrial: true },
    ],
    selection: { uuidOf: 'elsewhere' },
    expected: { rule: /^uuid: .*belongs to another trial/ },
  },
  {
    name: 'uuid: a DELETED checkpoint → NoCheckpointError',
    checkpoints: [{ name: 'a', steps: 100, at: 1, state: 'DELETED' }],
    selection: { uuidOf: 'a' },
    expected: { rule: /^uuid: .*is DELETED, not COMPLETED/ },
  },
  {
    name: 'uuid: a PARTIALLY_DELETED checkpoint → NoCheckpointError',
    checkpoints: [{ name: 'a', steps: 100, at: 1, state: 'PARTIALLY_DELETED' }],
    selection: { uuidOf: 'a' },
    expected: { rule: /^uuid: .*is PARTIALLY_DELETED, not COMPLETED/ },
  },
  {
    name: 'uuid: an unknown uuid → NoCheckpointError',
    checkpoints: [{ name: 'a', steps: 100, at: 1 }],
    selection: { uuidOf: '?' },
    expected: { rule: /^uuid: .*does not exist/ },
  },
  {
    name: 'uuid: the empty string counts as set and names nothing → NoCheckpointError',
    checkpoints: [{ name: 'a', steps: 100, at: 1 }],
    selection: { select: { uuid: '' } },
    expected: { rule: /^uuid: '' is not a checkpoint UUID/ },
  },
  {
    name: 'uuid: not a UUID → NoCheckpointError, not the real master’s 500',
    checkpoints: [{ name: 'a', steps: 100, at: 1 }],
    selection: { select: { uuid: 'latest' } },
    expected: { rule: /^uuid: 'latest' is not a checkpoint UUID/ },
  },
];

/** A server to run the scenarios on, with the client-side record of requests. */
interface Target {
  name: string;
  kind: 'ours' | 'fake';
  client: Client;
  requests: RecordedRequest[];
  seed(s: Scenario): Promise<{ trialId: number; uuidOf: (name: string) => string }>;
  close(): Promise<void>;
}

function uuidFactory(): (rank: number) => string {
  const prefix = randomBytes(4).toString('hex');
  return (rank) => `${prefix}-0000-4000-8000-${rank.toString(16).padStart(12, '0')}`;
}

async function oursTarget(master: MasterTarget): Promise<Target> {
  const client = await master.login();
  return {
    name: master.name,
    kind: 'ours',
    client,
    requests: master.requests,
    close: () => master.close(),
    async seed(s) {
      const opts = {
        metric: s.searcher?.metric ?? 'validation_loss',
        smallerIsBetter: s.searcher === undefined ? true : s.searcher.smallerIsBetter,
        storageDir: master.storageDir,
      };
      const trial = await createTrial(client, opts);
      const other = s.checkpoints.some((c) => c.otherTrial === true)
        ? await createTrial(client, opts)
        : undefined;
      for (const [steps, metrics] of Object.entries(s.validations ?? {})) {
        await reportMetrics(client, trial, 'validation', Number(steps), metrics);
      }
      const uuid = uuidFactory();
      const names = new Map<string, string>();
      for (const [i, c] of s.checkpoints.entries()) {
        if (c.steps === undefined) {
          throw new Error(`${s.name}: our master requires steps_completed`);
        }
        const id = uuid(c.rank ?? i + 1);
        names.set(c.name, id);
        await reportCheckpoint(client, c.otherTrial === true && other ? other : trial, {
          uuid: id,
          steps: c.steps,
          reportTime: new Date(BASE_TIME + c.at * 1000),
        });
        if (c.state === 'DELETED' || c.state === 'PARTIALLY_DELETED') {
          await markCheckpoint(client, id, c.state);
        } else if (c.state !== undefined && c.state !== 'COMPLETED') {
          throw new Error(`${s.name}: our master cannot hold ${c.state} checkpoints`);
        }
      }
      const unknown = uuid(0xffff);
      return { trialId: trial.trialId, uuidOf: (n) => (n === '?' ? unknown : (names.get(n) ?? n)) };
    },
  };
}

async function fakeTarget(): Promise<Target> {
  const fake = await new FakeDetermined().start();
  const { fetch, requests } = recordingFetch((input, init) => globalThis.fetch(input, init));
  const client = createClient({
    baseUrl: fake.url,
    token: fake.tokenFor('determined'),
    fetch,
    retry: { baseDelayMs: 0 },
  });
  return {
    name: 'fake Determined 0.38.1',
    kind: 'fake',
    client,
    requests,
    close: () => fake.close(),
    seed(s) {
      const experimentId = fake.addExperiment({
        metric: s.searcher?.metric ?? 'validation_loss',
        smallerIsBetter: s.searcher?.smallerIsBetter,
      });
      const trialId = fake.addTrial(experimentId);
      const otherTrialId = fake.addTrial(fake.addExperiment());
      for (const [steps, metrics] of Object.entries(s.validations ?? {})) {
        fake.addValidation(trialId, Number(steps), metrics);
      }
      const uuid = uuidFactory();
      const names = new Map<string, string>();
      for (const [i, c] of s.checkpoints.entries()) {
        const id = uuid(c.rank ?? i + 1);
        names.set(c.name, id);
        fake.addCheckpoint({
          uuid: id,
          trialId: c.otherTrial === true ? otherTrialId : trialId,
          steps: c.steps,
          reportTime: new Date(BASE_TIME + c.at * 1000),
          state: c.state,
        });
      }
      const unknown = uuid(0xffff);
      return Promise.resolve({
        trialId,
        uuidOf: (n: string) => (n === '?' ? unknown : (names.get(n) ?? n)),
      });
    },
  };
}

const TARGETS: { name: string; start: () => Promise<Target> }[] = [
  ...masterTargets().map((t) => ({ name: t.name, start: async () => oursTarget(await t.start()) })),
  { name: 'fake Determined 0.38.1', start: fakeTarget },
];

function run(trial: TrialReference, selection: Selection, uuidOf: (n: string) => string) {
  if ('top' in selection) {
    return trial.topCheckpoint(selection.top);
  }
  if ('uuidOf' in selection) {
    return trial.selectCheckpoint({ uuid: uuidOf(selection.uuidOf) });
  }
  return trial.selectCheckpoint(selection.select);
}

const isUuidSelection = (s: Selection): boolean =>
  'uuidOf' in s || ('select' in s && 'uuid' in s.select);

const listings = (requests: RecordedRequest[]): RecordedRequest[] =>
  requests.filter((r) => /^\/api\/v1\/trials\/\d+\/checkpoints/.test(r.path));

for (const { name, start } of TARGETS) {
  describe(`TrialReference selection rules [${name}]`, () => {
    let target: Target;
    beforeAll(async () => {
      target = await start();
    });
    afterAll(async () => {
      await target.close();
    });

    // Scenarios with states or step-less checkpoints our master cannot hold run on the fake only.
    for (const scenario of SCENARIOS.filter(
      (s) => s.fakeOnly !== true || name.startsWith('fake'),
    )) {
      it(scenario.name, async () => {
        const { trialId, uuidOf } = await target.seed(scenario);
        const trial = new TrialReference(trialId, { client: target.client });
        target.requests.length = 0;
        const result = await run(trial, scenario.selection, uuidOf).then(
          (checkpoint) => ({ checkpoint }),
          (err: unknown) => ({ err }),
        );
        if (typeof scenario.expected === 'string') {
          if (!('checkpoint' in result)) {
            throw result.err;
          }
          expect(result.checkpoint.uuid).toBe(uuidOf(scenario.expected));
          expect(result.checkpoint.state).toBe('COMPLETED');
          expect(result.checkpoint.training?.trialId).toBe(trialId);
        } else {
          expect('err' in result && result.err).toBeInstanceOf(NoCheckpointError);
          const err = (result as { err: NoCheckpointError }).err;
          expect(err.trialId).toBe(trialId);
          expect(err.rule).toMatch(scenario.expected.rule);
          expect(err.message).toContain(`trial ${trialId}`);
        }

        // How the answer was obtained: one `limit=1` row from our master; every COMPLETED
        // checkpoint from Determined's.
        const lists = listings(target.requests);
        if (isUuidSelection(scenario.selection)) {
          expect(lists).toHaveLength(0);
        } else if (target.kind === 'ours') {
          expect(lists).toHaveLength(1);
          expect(lists[0]?.query.get('limit')).toBe('1');
          expect(lists[0]?.query.getAll('states')).toEqual(['STATE_COMPLETED']);
        } else {
          expect(lists.length).toBeGreaterThanOrEqual(1);
          for (const r of lists) {
            expect(r.query.getAll('states')).toEqual(['STATE_COMPLETED']);
            expect(r.query.get('limit')).not.toBe('1');
          }
        }
      });
    }
  });
}

// ---------------------------------------------------------------------------------------------

/** A fetch that records and refuses every call: argument errors must come before any request. */
function refusingFetch(): { fetch: FetchLike; calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    fetch: (input) => {
      calls.push(input);
      return Promise.reject(new Error(`unexpected request ${input}`));
    },
  };
}

type Call = (trial: TrialReference) => Promise<unknown>;
const select =
  (selection: unknown): Call =>
  (trial) =>
    trial.selectCheckpoint(selection as CheckpointSelection);
const top =
  (options: unknown): Call =>
  (trial) =>
    trial.topCheckpoint(options as TopCheckpointOptions);

const U = '00000000-0000-4000-8000-000000000001';

const ARGUMENT_CASES: [string, Call, string][] = [
  ['nothing set', select({}), SELECTION_RULES.exactlyOne],
  ['latest and best', select({ latest: true, best: true }), SELECTION_RULES.exactlyOne],
  ['latest and uuid', select({ latest: true, uuid: U }), SELECTION_RULES.exactlyOne],
  [
    'best and an empty uuid (it counts as set)',
    select({ best: true, uuid: '' }),
    SELECTION_RULES.exactlyOne,
  ],
  ['all three', select({ latest: true, best: true, uuid: U }), SELECTION_RULES.exactlyOne],
  ['latest: false alone (false is unset)', select({ latest: false }), SELECTION_RULES.exactlyOne],
  [
    'only nulls (null is unset)',
    select({ latest: null, best: null, uuid: null }),
    SELECTION_RULES.exactlyOne,
  ],
  ['topCheckpoint with latest', top({ latest: true }), SELECTION_RULES.exactlyOne],
  ['topCheckpoint with a uuid', top({ uuid: U }), SELECTION_RULES.exactlyOne],
  ['sortBy without smallerIsBetter', select({ best: true, sortBy: 'a' }), SELECTION_RULES.together],
  [
    'smallerIsBetter without sortBy',
    select({ best: true, smallerIsBetter: false }),
    SELECTION_RULES.together,
  ],
  [
    'sortBy null with smallerIsBetter',
    select({ best: true, sortBy: null, smallerIsBetter: true }),
    SELECTION_RULES.together,
  ],
  [
    'topCheckpoint with only smallerIsBetter',
    top({ smallerIsBetter: true }),
    SELECTION_RULES.together,
  ],
  ['topCheckpoint with only sortBy', top({ sortBy: 'accuracy' }), SELECTION_RULES.together],
  [
    'latest with only sortBy (pairing is checked first)',
    select({ latest: true, sortBy: 'a' }),
    SELECTION_RULES.together,
  ],
  [
    'latest with sortBy and smallerIsBetter',
    select({ latest: true, sortBy: 'a', smallerIsBetter: true }),
    SELECTION_RULES.onlyWithBest,
  ],
  [
    'uuid with sortBy and smallerIsBetter',
    select({ uuid: U, sortBy: 'a', smallerIsBetter: false }),
    SELECTION_RULES.onlyWithBest,
  ],
  ['JS: no argument', select(undefined), SELECTION_RULES.types],
  ['JS: null', select(null), SELECTION_RULES.types],
  ['JS: a string', select('best'), SELECTION_RULES.types],
  ['JS: an array', select([{ best: true }]), SELECTION_RULES.types],
  ['JS: latest as a string', select({ latest: 'yes' }), SELECTION_RULES.types],
  ['JS: best as a number', select({ best: 1 }), SELECTION_RULES.types],
  ['JS: uuid as a number', select({ uuid: 42 }), SELECTION_RULES.types],
  [
    'JS: sortBy as a number',
    select({ best: true, sortBy: 5, smallerIsBetter: true }),
    SELECTION_RULES.types,
  ],
  [
    'JS: smallerIsBetter as a string',
    select({ best: true, sortBy: 'a', smallerIsBetter: 'no' }),
    SELECTION_RULES.types,
  ],
  [
    'JS: Python spellings',
    select({ best: true, sort_by: 'a', smaller_is_better: true }),
    SELECTION_RULES.types,
  ],
  ['JS: topCheckpoint with a string', top('accuracy'), SELECTION_RULES.types],
  ['JS: topCheckpoint with null', top(null), SELECTION_RULES.types],
];

describe('TrialReference argument rules', () => {
  for (const [name, call, rule] of ARGUMENT_CASES) {
    it(`${name}: ArgumentError ${rule}, before any request`, async () => {
      const viaClient = refusingFetch();
      const viaLogin = refusingFetch();
      const dir = await tempDir();
      try {
        const withClient = new TrialReference(7, {
          client: createClient({
            baseUrl: 'http://master.test',
            token: 't',
            fetch: viaClient.fetch,
          }),
        });
        const withLogin = new TrialReference(7, {
          master: 'http://master.test',
          fetch: viaLogin.fetch,
          env: { DET_DEBUG_CONFIG_PATH: dir.path },
        });
        for (const trial of [withClient, withLogin]) {
          const err = await call(trial).then(
            () => undefined,
            (e: unknown) => e,
          );
          expect(err).toBeInstanceOf(ArgumentError);
          expect((err as ArgumentError).rule).toBe(rule);
        }
        expect(viaClient.calls).toEqual([]);
        expect(viaLogin.calls).toEqual([]);
      } finally {
        await dir.cleanup();
      }
    });
  }

  it('rejects a trial id that is not a positive integer', () => {
    for (const id of [0, -1, 1.5, Number.NaN, '3' as unknown as number]) {
      expect(() => new TrialReference(id)).toThrow(TypeError);
    }
  });
});

describe('TrialReference against our master [in-process sqlite]', () => {
  let master: MasterTarget;
  let client: Client;
  let trialId: number;
  let uuids: string[];

  beforeAll(async () => {
    master = await masterTargets()[0]!.start();
    client = await master.login();
    const trial = await createTrial(client, {
      metric: 'validation_loss',
      smallerIsBetter: true,
      storageDir: master.storageDir,
    });
    trialId = trial.trialId;
    const make = uuidFactory();
    uuids = [1, 2, 3].map(make);
    for (const [i, loss] of [0.3, 0.1, 0.2].entries()) {
      const steps = (i + 1) * 100;
      await reportMetrics(client, trial, 'validation', steps, {
        validation_loss: loss,
        accuracy: loss * 3,
      });
      await reportCheckpoint(client, trial, {
        uuid: uuids[i]!,
        steps,
        reportTime: new Date(BASE_TIME + i),
      });
    }
  });
  afterAll(async () => {
    await master.close();
  });

  const query = (r: RecordedRequest | undefined): Record<string, string[]> => {
    const out: Record<string, string[]> = {};
    for (const [k, v] of r?.query ?? []) {
      (out[k] ??= []).push(v);
    }
    return out;
  };

  it('asks for one row, best first in the searcher’s direction, after one master probe', async () => {
    const trial = new TrialReference(trialId, { client });
    master.requests.length = 0;
    const best = await trial.topCheckpoint();
    expect(best.uuid).toBe(uuids[1]);
    expect(master.requests.map((r) => `${r.method} ${r.path.split('?')[0]}`)).toEqual([
      'GET /api/v1/master',
      `GET /api/v1/trials/${trialId}/checkpoints`,
    ]);
    expect(query(master.requests[1])).toEqual({
      sortByAttr: ['SORT_BY_SEARCHER_METRIC'],
      states: ['STATE_COMPLETED'],
      offset: ['0'],
      limit: ['1'],
    });

    // The probe is cached: a service calling again sends only the listing.
    master.requests.length = 0;
    expect((await trial.topCheckpoint()).uuid).toBe(uuids[1]);
    expect(master.requests.map((r) => r.path.split('?')[0])).toEqual([
      `/api/v1/trials/${trialId}/checkpoints`,
    ]);
  });

  it('sends sortBy as sortByMetric with the direction smallerIsBetter gives', async () => {
    const trial = new TrialReference(trialId, { client });
    await trial.topCheckpoint(); // probe
    master.requests.length = 0;
    const best = await trial.topCheckpoint({ sortBy: 'accuracy', smallerIsBetter: false });
    expect(best.uuid).toBe(uuids[0]);
    expect(master.requests).toHaveLength(1);
    expect(query(master.requests[0])).toEqual({
      sortByMetric: ['accuracy'],
      orderBy: ['ORDER_BY_DESC'],
      states: ['STATE_COMPLETED'],
      offset: ['0'],
      limit: ['1'],
    });
  });

  it('asks for the latest by steps, descending, one row', async () => {
    const trial = new TrialReference(trialId, { client });
    await trial.topCheckpoint();
    master.requests.length = 0;
    expect((await trial.selectCheckpoint({ latest: true })).uuid).toBe(uuids[2]);
    expect(master.requests).toHaveLength(1);
    expect(query(master.requests[0])).toEqual({
      sortByAttr: ['SORT_BY_BATCH_NUMBER'],
      orderBy: ['ORDER_BY_DESC'],
      states: ['STATE_COMPLETED'],
      offset: ['0'],
      limit: ['1'],
    });
  });

  it('fetches a uuid with one request and returns the seed and modern fields', async () => {
    const trial = new TrialReference(trialId, { client });
    master.requests.length = 0;
    const c = await trial.selectCheckpoint({ uuid: uuids[0]!.toUpperCase() });
    expect(master.requests.map((r) => r.path)).toEqual([
      `/api/v1/checkpoints/${uuids[0]!.toUpperCase()}`,
    ]);
    expect(c.uuid).toBe(uuids[0]);
    expect(c.batchNumber).toBe(100);
    expect(c.resources).toEqual({ 'metadata.json': 20, 'model.bin': 100 });
    expect(c.storageConfig).toMatchObject({ type: 'directory', container_path: master.storageDir });
    expect(c.validation?.state).toBe('COMPLETED');
    expect(c.validation?.metrics.validationMetrics.validation_loss).toBe(0.3);
    expect(c.validation?.metrics.validationMetrics.accuracy).toBeCloseTo(0.9, 10);
    expect(c.startTime).toEqual(new Date(BASE_TIME));
    expect(c.endTime).toEqual(c.reportTime);
    expect(c.client).toBe(client);
  });

  it('accepts null and false for the options it does not use', async () => {
    const trial = new TrialReference(trialId, { client });
    const best = await trial.selectCheckpoint({
      best: true,
      latest: false,
      uuid: null,
      sortBy: null,
      smallerIsBetter: null,
    } as unknown as CheckpointSelection);
    expect(best.uuid).toBe(uuids[1]);
  });

  it('asks the master again after a failed probe, instead of failing forever', async () => {
    let failures = 1;
    const token = client.token;
    const flaky = createClient({
      baseUrl: master.baseUrl,
      token,
      retry: { attempts: 1 },
      fetch: (input, init) => {
        if (failures > 0 && input.endsWith('/api/v1/master')) {
          failures -= 1;
          return Promise.reject(new TypeError('fetch failed'));
        }
        return master.fetch(input, init);
      },
    });
    const trial = new TrialReference(trialId, { client: flaky });
    await expect(trial.topCheckpoint()).rejects.toBeInstanceOf(NetworkError);
    expect((await trial.topCheckpoint()).uuid).toBe(uuids[1]);
  });

  it('recovers from an aborted first call', async () => {
    const trial = new TrialReference(trialId, { client });
    const ctrl = new AbortController();
    ctrl.abort();
    await expect(trial.topCheckpoint({ signal: ctrl.signal })).rejects.toMatchObject({
      name: 'AbortError',
    });
    expect((await trial.topCheckpoint()).uuid).toBe(uuids[1]);
  });

  it('logs in by itself as determined when given no client', async () => {
    const dir = await tempDir();
    try {
      const trial = new TrialReference(trialId, {
        master: master.baseUrl,
        fetch: master.fetch,
        env: { DET_DEBUG_CONFIG_PATH: dir.path },
      });
      master.requests.length = 0;
      expect((await trial.topCheckpoint()).uuid).toBe(uuids[1]);
      expect(master.requests.some((r) => r.path === '/api/v1/auth/login')).toBe(true);
    } finally {
      await dir.cleanup();
    }
  });
});

describe('TrialReference against a Determined 0.38.1 master (fake)', () => {
  const N = 2_500;
  let fake: FakeDetermined;
  let trialId: number;
  let bestUuid: string;
  let latestUuid: string;
  let unvalidatedUuid: string;

  beforeAll(async () => {
    fake = await new FakeDetermined().start();
    trialId = fake.addTrial(
      fake.addExperiment({ metric: 'validation_loss', smallerIsBetter: true }),
    );
    const uuid = uuidFactory();
    // Losses in (0.1, 1]; the best is planted in the middle, and better-valued checkpoints
    // that must not count are DELETED / PARTIALLY_DELETED or lack a validation.
    for (let i = 1; i <= N; i += 1) {
      const steps = i * 10;
      const loss = i === 1234 ? 0.01 : 0.1 + ((i * 7919) % 1000) / 1111;
      fake.addValidation(trialId, steps, { validation_loss: loss });
      fake.addCheckpoint({
        uuid: uuid(i),
        trialId,
        steps,
        reportTime: new Date(BASE_TIME + i * 1000),
        state: i === 17 ? 'DELETED' : i === 18 ? 'PARTIALLY_DELETED' : 'COMPLETED',
      });
    }
    fake.addValidation(trialId, 170, { validation_loss: 0.001 });
    fake.addValidation(trialId, 180, { validation_loss: 0.001 });
    bestUuid = uuid(1234);
    latestUuid = uuid(N);
    // No validation at its steps, and the newest report: Determined sorts it first.
    unvalidatedUuid = uuid(N + 1);
    fake.addCheckpoint({
      uuid: unvalidatedUuid,
      trialId,
      steps: N * 10 - 5,
      reportTime: new Date(BASE_TIME + (N + 1) * 1000),
    });
  });
  afterAll(async () => {
    await fake.close();
  });

  function session(): { client: Client; requests: RecordedRequest[] } {
    const { fetch, requests } = recordingFetch((input, init) => globalThis.fetch(input, init));
    const client = createClient({
      baseUrl: fake.url,
      token: fake.tokenFor(),
      fetch,
      retry: { baseDelayMs: 0 },
    });
    return { client, requests };
  }

  it('has the documented wrong default order: a checkpoint without the metric comes first', async () => {
    const { client } = session();
    const page = await listCheckpointsPage(
      client,
      { trialId },
      {
        sortBy: { attr: 'searcherMetric' },
        offset: 0,
        limit: 1,
      },
    );
    expect(page.checkpoints[0]?.uuid).toBe(unvalidatedUuid);
    expect(page.pagination).toEqual({
      offset: 0,
      limit: 1,
      startIndex: 0,
      endIndex: 1,
      total: N + 1,
    });
  });

  it('fetches every page of COMPLETED checkpoints and picks the best itself', async () => {
    const { client, requests } = session();
    const best = await new TrialReference(trialId, { client }).topCheckpoint();
    expect(best.uuid).toBe(bestUuid);
    expect(best.validation?.metrics.validationMetrics.validation_loss).toBe(0.01);
    const pages = listings(requests);
    expect(pages.map((r) => r.query.get('offset'))).toEqual(['0', '1000', '2000']);
    for (const r of pages) {
      expect(r.query.getAll('states')).toEqual(['STATE_COMPLETED']);
      expect(r.query.get('limit')).toBe('1000');
    }
    // The searcher came from the trial's experiment.
    expect(requests.map((r) => r.path.split('?')[0])).toEqual([
      '/api/v1/master',
      `/api/v1/trials/${trialId}`,
      `/api/v1/experiments/${fake.requests
        .find((r) => r.path.startsWith('/api/v1/experiments/'))
        ?.path.split('/')
        .pop()}`,
      ...pages.map((r) => r.path.split('?')[0]),
    ]);
  });

  it('picks the latest itself from every page', async () => {
    const { client, requests } = session();
    const latest = await new TrialReference(trialId, { client }).selectCheckpoint({ latest: true });
    expect(latest.uuid).toBe(latestUuid);
    expect(listings(requests)).toHaveLength(3);
  });

  it('aborts a selection while the master is answering', async () => {
    const { client } = session();
    fake.failNext('stall', 1, (r) => r.path.endsWith('/checkpoints'));
    const arrived = fake.waitForRequest(
      (r) => r.path.endsWith('/checkpoints') && r.query.get('offset') === '0',
    );
    const ctrl = new AbortController();
    const pending = new TrialReference(trialId, { client }).topCheckpoint({ signal: ctrl.signal });
    await arrived;
    ctrl.abort();
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('logs in with the empty password, sends the v2.public token, and answers', async () => {
    const dir = await tempDir();
    try {
      const trial = new TrialReference(trialId, {
        master: fake.url,
        env: { DET_DEBUG_CONFIG_PATH: dir.path },
        retry: { baseDelayMs: 0 },
      });
      const before = fake.requests.length;
      expect((await trial.topCheckpoint()).uuid).toBe(bestUuid);
      const mine = fake.requests.slice(before);
      expect(mine.some((r) => r.path === '/api/v1/auth/login')).toBe(true);
      const listing = mine.find((r) => r.path.endsWith('/checkpoints'));
      expect(listing?.authorization).toMatch(/^Bearer v2\.public\./);
    } finally {
      await dir.cleanup();
    }
  });
});
