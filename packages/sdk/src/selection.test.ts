import type { CheckpointDto, JsonObject } from '@determined-ts/api';
import { describe, expect, it } from 'vitest';

import { decodeCheckpoint } from './decode.js';
import { ArgumentError } from './errors.js';
import type { CheckpointData } from './models.js';
import {
  SELECTION_RULES,
  checkSelection,
  metricValue,
  pickBest,
  pickLatest,
  tieBreak,
} from './selection.js';

/*
 * The rules of DESIGN.md "Semantics we define", as the SDK applies them to a foreign master's
 * checkpoints. Inputs are decoded from wire JSON, as they arrive.
 */

const BASE = Date.parse('2025-01-01T00:00:00Z');

function ck(c: {
  uuid: string;
  steps?: number;
  at?: number;
  state?: string;
  validation?: JsonObject | null;
}): CheckpointData {
  return decodeCheckpoint({
    uuid: c.uuid,
    taskId: '1.t',
    reportTime: new Date(BASE + (c.at ?? 0) * 1000).toISOString(),
    resources: {},
    metadata: c.steps === undefined ? {} : { steps_completed: c.steps },
    state: `STATE_${c.state ?? 'COMPLETED'}`,
    training: {
      trialId: 1,
      experimentId: 1,
      experimentConfig: {},
      hparams: {},
      trainingMetrics: { avgMetrics: null, batchMetrics: [] },
      validationMetrics: { avgMetrics: c.validation ?? null, batchMetrics: [] },
    },
  } as unknown as CheckpointDto);
}

const uuids = (list: (CheckpointData | undefined)[]): (string | undefined)[] =>
  list.map((c) => c?.uuid);

describe('checkSelection', () => {
  const ok: unknown[] = [
    { latest: true },
    { best: true },
    { uuid: 'u' },
    { uuid: '' },
    { best: true, sortBy: 'a', smallerIsBetter: false },
    { best: true, latest: false, uuid: undefined },
    { latest: true, uuid: null, sortBy: null, smallerIsBetter: undefined },
    { best: true, signal: new AbortController().signal },
  ];
  for (const selection of ok) {
    it(`accepts ${JSON.stringify(selection)}`, () => {
      expect(() => checkSelection(selection)).not.toThrow();
    });
  }

  const bad: [unknown, string, RegExp][] = [
    [{}, SELECTION_RULES.exactlyOne, /exactly one of latest, best or uuid must be set \(got 0\)/],
    [{ latest: true, best: true, uuid: 'u' }, SELECTION_RULES.exactlyOne, /\(got 3\)/],
    [{ best: true, uuid: '' }, SELECTION_RULES.exactlyOne, /\(got 2\)/],
    [{ best: true, sortBy: 'a' }, SELECTION_RULES.together, /must be set together/],
    [{ best: true, smallerIsBetter: true }, SELECTION_RULES.together, /must be set together/],
    [
      { uuid: 'u', sortBy: 'a', smallerIsBetter: true },
      SELECTION_RULES.onlyWithBest,
      /only be used with best/,
    ],
    // The seed checks pairing before "only with best".
    [{ latest: true, smallerIsBetter: true }, SELECTION_RULES.together, /together/],
    [{ latest: 1 }, SELECTION_RULES.types, /latest must be a boolean, got 1/],
    [{ uuid: 7 }, SELECTION_RULES.types, /uuid must be a string, got 7/],
    [
      { best: true, sortBy: ['a'], smallerIsBetter: true },
      SELECTION_RULES.types,
      /sortBy must be a string/,
    ],
    [
      { best: true, sortBy: 'a', smallerIsBetter: 0 },
      SELECTION_RULES.types,
      /smallerIsBetter must be a boolean/,
    ],
    [{ best: true, sortby: 'a' }, SELECTION_RULES.types, /unknown option 'sortby'/],
    [undefined, SELECTION_RULES.types, /must be an object, got undefined/],
    [null, SELECTION_RULES.types, /must be an object, got null/],
    [[], SELECTION_RULES.types, /must be an object/],
  ];
  for (const [selection, rule, message] of bad) {
    it(`refuses ${JSON.stringify(selection) ?? 'undefined'} by rule ${rule}`, () => {
      let err: unknown;
      try {
        checkSelection(selection);
      } catch (e: unknown) {
        err = e;
      }
      expect(err).toBeInstanceOf(ArgumentError);
      expect((err as ArgumentError).rule).toBe(rule);
      expect((err as ArgumentError).message).toMatch(message);
      expect((err as ArgumentError).name).toBe('ArgumentError');
    });
  }
});

describe('metricValue', () => {
  it('is the value only when it is a finite number', () => {
    const c = ck({
      uuid: 'a',
      steps: 1,
      validation: {
        n: 0.5,
        z: 0,
        nan: 'NaN',
        inf: 'Infinity',
        s: '0.5',
        b: true,
        o: {},
        nul: null,
      },
    });
    expect(metricValue(c, 'n')).toBe(0.5);
    expect(metricValue(c, 'z')).toBe(0);
    for (const key of ['nan', 'inf', 's', 'b', 'o', 'nul', 'missing']) {
      expect(metricValue(c, key)).toBeUndefined();
    }
    expect(metricValue(ck({ uuid: 'b', steps: 1, validation: null }), 'n')).toBeUndefined();
  });
});

describe('tieBreak', () => {
  it('ranks larger steps first, then later report time, then smaller uuid', () => {
    const list = [
      ck({ uuid: 'c', steps: 100, at: 5 }),
      ck({ uuid: 'b', steps: 200, at: 1 }),
      ck({ uuid: 'a', steps: 100, at: 5 }),
      ck({ uuid: 'd', steps: 100, at: 9 }),
      ck({ uuid: 'e', at: 99 }),
    ];
    expect(uuids([...list].sort(tieBreak))).toEqual(['b', 'd', 'a', 'c', 'e']);
    expect(tieBreak(list[0]!, list[0]!)).toBe(0);
  });
});

describe('pickBest', () => {
  it('picks the smallest or largest finite value', () => {
    const list = [
      ck({ uuid: 'a', steps: 1, validation: { m: 0.3 } }),
      ck({ uuid: 'b', steps: 2, validation: { m: 0.1 } }),
      ck({ uuid: 'c', steps: 3, validation: { m: 0.9 } }),
    ];
    expect(pickBest(list, 'm', true)?.uuid).toBe('b');
    expect(pickBest(list, 'm', false)?.uuid).toBe('c');
  });

  it('skips non-COMPLETED checkpoints and values that are not finite numbers', () => {
    const list = [
      ck({ uuid: 'deleted', steps: 1, state: 'DELETED', validation: { m: -10 } }),
      ck({ uuid: 'partial', steps: 1, state: 'PARTIALLY_DELETED', validation: { m: -10 } }),
      ck({ uuid: 'active', steps: 1, state: 'ACTIVE', validation: { m: -10 } }),
      ck({ uuid: 'error', steps: 1, state: 'ERROR', validation: { m: -10 } }),
      ck({ uuid: 'nan', steps: 2, validation: { m: 'NaN' } }),
      ck({ uuid: 'ninf', steps: 3, validation: { m: '-Infinity' } }),
      ck({ uuid: 'str', steps: 4, validation: { m: '-5' } }),
      ck({ uuid: 'missing', steps: 5, validation: { other: -5 } }),
      ck({ uuid: 'none', steps: 6 }),
      ck({ uuid: 'ok', steps: 7, validation: { m: 4 } }),
    ];
    expect(pickBest(list, 'm', true)?.uuid).toBe('ok');
    expect(pickBest(list.slice(0, -1), 'm', true)).toBeUndefined();
    expect(pickBest([], 'm', true)).toBeUndefined();
  });

  it('breaks ties by larger steps, later report, smaller uuid, in any input order', () => {
    const list = [
      ck({ uuid: 'b', steps: 100, at: 5, validation: { m: 1 } }),
      ck({ uuid: 'a', steps: 100, at: 5, validation: { m: 1 } }),
      ck({ uuid: 'c', steps: 100, at: 4, validation: { m: 1 } }),
      ck({ uuid: 'd', steps: 50, at: 9, validation: { m: 1 } }),
      ck({ uuid: 'e', steps: 999, at: 9, validation: { m: 2 } }),
    ];
    for (let i = 0; i < list.length; i += 1) {
      const rotated = [...list.slice(i), ...list.slice(0, i)];
      expect(pickBest(rotated, 'm', true)?.uuid).toBe('a');
      expect(pickBest([...rotated].reverse(), 'm', true)?.uuid).toBe('a');
    }
  });
});

describe('pickLatest', () => {
  it('picks the COMPLETED checkpoint with the largest steps, ties by report then uuid', () => {
    const list = [
      ck({ uuid: 'x', steps: 500, state: 'DELETED' }),
      ck({ uuid: 'y', at: 100 }),
      ck({ uuid: 'b', steps: 300, at: 1 }),
      ck({ uuid: 'a', steps: 300, at: 1 }),
      ck({ uuid: 'c', steps: 300, at: 0 }),
      ck({ uuid: 'd', steps: 200, at: 50 }),
    ];
    expect(pickLatest(list)?.uuid).toBe('a');
    expect(pickLatest([...list].reverse())?.uuid).toBe('a');
    expect(pickLatest(list.slice(0, 2))).toBeUndefined();
  });
});

/** A small deterministic PRNG (mulberry32): the same cases on every run. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('pickBest and pickLatest agree with a plain sort', () => {
  it('on 300 random trials with ties, gaps and odd values', () => {
    const rand = prng(42);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
    const values: unknown[] = [0.1, 0.2, 0.2, 0.3, -1, 'NaN', 'Infinity', '-Infinity', '0.1', null];
    for (let trial = 0; trial < 300; trial += 1) {
      const list: CheckpointData[] = [];
      const n = Math.floor(rand() * 12);
      for (let i = 0; i < n; i += 1) {
        const validation = rand() < 0.2 ? null : rand() < 0.1 ? { other: 1 } : { m: pick(values) };
        list.push(
          ck({
            uuid: `u${Math.floor(rand() * 5)}${i}`,
            steps: rand() < 0.1 ? undefined : Math.floor(rand() * 4) * 100,
            at: Math.floor(rand() * 3),
            state: rand() < 0.2 ? pick(['DELETED', 'ACTIVE', 'PARTIALLY_DELETED']) : 'COMPLETED',
            validation,
          }),
        );
      }
      const smaller = rand() < 0.5;
      // Reference: filter, then sort by the signed value and the spelled-out tie-break.
      const value = (c: CheckpointData): unknown => c.training?.validationMetrics?.m;
      const eligible = list.filter(
        (c) => c.state === 'COMPLETED' && typeof value(c) === 'number' && Number.isFinite(value(c)),
      );
      const key = (c: CheckpointData): [number, number, number, string] => [
        (smaller ? 1 : -1) * (value(c) as number),
        -(c.batchNumber ?? Number.NEGATIVE_INFINITY),
        -c.reportTime.getTime(),
        c.uuid,
      ];
      const cmp = (a: CheckpointData, b: CheckpointData): number => {
        const [ka, kb] = [key(a), key(b)];
        for (let i = 0; i < 4; i += 1) {
          if (ka[i]! < kb[i]!) {
            return -1;
          }
          if (ka[i]! > kb[i]!) {
            return 1;
          }
        }
        return 0;
      };
      expect(pickBest(list, 'm', smaller)?.uuid).toBe(eligible.sort(cmp)[0]?.uuid);
      const latest = list
        .filter((c) => c.state === 'COMPLETED' && c.batchNumber !== undefined)
        .sort(tieBreak)[0];
      expect(pickLatest(list)?.uuid).toBe(latest?.uuid);
    }
  });
});
