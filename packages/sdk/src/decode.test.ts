import type {
  CheckpointDto,
  CheckpointMarkerDto,
  ExperimentDto,
  TrialDto,
  UserDto,
} from '@determined-ts/api';
import { describe, expect, it } from 'vitest';

import {
  decodeCheckpoint,
  decodeCheckpointList,
  decodeCheckpointMarker,
  decodeDataPoint,
  decodeExperiment,
  decodeMetrics,
  decodePagination,
  decodeTrial,
  decodeTrialLog,
  decodeUser,
} from './decode.js';

/*
 * Wire JSON as a real Determined v0.38.1 master sends it (reference §3.4–3.5: grpc-gateway,
 * int64 as strings, doubles as "NaN"/"Infinity" strings, optional fields omitted), and what the
 * SDK makes of it.
 */

const CONFIG = {
  searcher: { name: 'single', metric: 'validation_loss', smaller_is_better: true },
  checkpoint_storage: {
    type: 'shared_fs',
    host_path: '/mnt/ckpt',
    storage_path: null,
    propagation: 'rprivate',
    save_experiment_best: 0,
    save_trial_best: 1,
    save_trial_latest: 1,
  },
};

/** The reference's `GET /api/v1/checkpoints/{uuid}` example (§3.5.6). */
function wireCheckpoint(): Record<string, unknown> {
  return {
    taskId: '3.7d1e',
    allocationId: '3.7d1e.0',
    uuid: '8f0c2a6e-0000-4000-8000-000000000001',
    reportTime: '2024-07-01T12:00:00.123456Z',
    resources: {
      'code/': '0',
      'code/model_def.py': '2048',
      'load_data.json': '412',
      'metadata.json': '120',
      'state_dict.pth': '44563',
    },
    metadata: {
      determined_version: '0.38.1',
      steps_completed: 500,
      framework: 'torch-2.3.0',
      format: 'pickle',
    },
    state: 'STATE_COMPLETED',
    training: {
      trialId: 3,
      experimentId: 1,
      experimentConfig: CONFIG,
      hparams: { lr: 0.01 },
      trainingMetrics: { avgMetrics: { loss: 0.2 }, batchMetrics: [] },
      validationMetrics: { avgMetrics: { validation_loss: 0.11 }, batchMetrics: [] },
      searcherMetric: 0.11,
    },
    storageId: 1,
  };
}

const asDto = (v: unknown): CheckpointDto => v as CheckpointDto;

describe('decodeCheckpoint', () => {
  it('decodes the seed and modern fields of a real master’s checkpoint', () => {
    const c = decodeCheckpoint(asDto(wireCheckpoint()));
    expect(c).toEqual({
      uuid: '8f0c2a6e-0000-4000-8000-000000000001',
      state: 'COMPLETED',
      taskId: '3.7d1e',
      allocationId: '3.7d1e.0',
      reportTime: new Date('2024-07-01T12:00:00.123Z'),
      resources: {
        'code/': 0,
        'code/model_def.py': 2048,
        'load_data.json': 412,
        'metadata.json': 120,
        'state_dict.pth': 44563,
      },
      metadata: {
        determined_version: '0.38.1',
        steps_completed: 500,
        framework: 'torch-2.3.0',
        format: 'pickle',
      },
      training: {
        trialId: 3,
        experimentId: 1,
        experimentConfig: CONFIG,
        hparams: { lr: 0.01 },
        trainingMetrics: { loss: 0.2 },
        validationMetrics: { validation_loss: 0.11 },
        searcherMetric: 0.11,
      },
      storageId: 1,
      digests: {},
      crc32c: {},
      storageConfig: CONFIG.checkpoint_storage,
      batchNumber: 500,
      startTime: new Date('2024-07-01T12:00:00.123Z'),
      endTime: new Date('2024-07-01T12:00:00.123Z'),
      validation: { state: 'COMPLETED', metrics: { validationMetrics: { validation_loss: 0.11 } } },
    });
  });

  it('turns int64 strings into numbers, and accepts numbers too', () => {
    const wire = wireCheckpoint();
    wire.resources = { a: '9007199254740991', b: 7, 'dir/': '0' };
    wire.storageId = '12';
    wire.metadata = { steps_completed: '1000' };
    const c = decodeCheckpoint(asDto(wire));
    expect(c.resources).toEqual({ a: Number.MAX_SAFE_INTEGER, b: 7, 'dir/': 0 });
    expect(c.storageId).toBe(12);
    expect(c.batchNumber).toBe(1000);
  });

  it('decodes NaN and ±Infinity strings (any casing) in metrics and searcherMetric', () => {
    const wire = wireCheckpoint();
    wire.training = {
      ...(wire.training as object),
      validationMetrics: {
        avgMetrics: {
          a: 'NaN',
          b: 'Nan',
          c: 'nan',
          d: 'Infinity',
          e: '-Infinity',
          f: 'infinity',
          g: 0.5,
          h: '0.5',
          i: 'text',
          j: null,
          k: [1, 'NaN'],
          l: true,
        },
        batchMetrics: [],
      },
      searcherMetric: 'NaN',
    };
    const c = decodeCheckpoint(asDto(wire));
    expect(c.training?.validationMetrics).toEqual({
      a: Number.NaN,
      b: Number.NaN,
      c: Number.NaN,
      d: Number.POSITIVE_INFINITY,
      e: Number.NEGATIVE_INFINITY,
      f: Number.POSITIVE_INFINITY,
      g: 0.5,
      // Only the named non-finite values become numbers: other strings stay strings.
      h: '0.5',
      i: 'text',
      j: null,
      k: [1, 'NaN'],
      l: true,
    });
    expect(c.training?.searcherMetric).toBeNaN();
    expect(c.validation?.metrics.validationMetrics.d).toBe(Number.POSITIVE_INFINITY);
    wire.training = { ...(wire.training as object), searcherMetric: '-Infinity' };
    expect(decodeCheckpoint(asDto(wire)).training?.searcherMetric).toBe(Number.NEGATIVE_INFINITY);
  });

  it('gives defaults for the optional fields a real master omits', () => {
    const wire = wireCheckpoint();
    delete wire.allocationId;
    delete wire.storageId;
    wire.metadata = {};
    wire.training = {
      trialId: 3,
      experimentId: 1,
      experimentConfig: CONFIG,
      hparams: null,
      trainingMetrics: { avgMetrics: null, batchMetrics: [] },
      validationMetrics: { avgMetrics: null, batchMetrics: [] },
    };
    const c = decodeCheckpoint(asDto(wire));
    expect(c.allocationId).toBeUndefined();
    expect(c.storageId).toBeUndefined();
    expect(c.batchNumber).toBeUndefined();
    expect(c.digests).toEqual({});
    expect(c.training).toMatchObject({
      hparams: {},
      trainingMetrics: null,
      validationMetrics: null,
      searcherMetric: undefined,
    });
    expect(c.validation).toBeNull();
  });

  it('reads a checkpoint not made by a trial (no training.trialId) as training null', () => {
    const wire = wireCheckpoint();
    wire.training = {
      experimentConfig: null,
      hparams: null,
      trainingMetrics: { avgMetrics: null, batchMetrics: [] },
      validationMetrics: { avgMetrics: null, batchMetrics: [] },
    };
    wire.resources = {};
    wire.metadata = {};
    const c = decodeCheckpoint(asDto(wire));
    expect(c.training).toBeNull();
    expect(c.storageConfig).toEqual({});
    expect(c.resources).toEqual({});
    expect(c.validation).toBeNull();
  });

  it('strips the STATE_ prefix of every checkpoint state', () => {
    for (const state of ['ACTIVE', 'COMPLETED', 'ERROR', 'DELETED', 'PARTIALLY_DELETED']) {
      expect(decodeCheckpoint(asDto({ ...wireCheckpoint(), state: `STATE_${state}` })).state).toBe(
        state,
      );
    }
  });

  it('keeps our master’s digests extension', () => {
    const digest = 'a'.repeat(64);
    const c = decodeCheckpoint(
      asDto({ ...wireCheckpoint(), digests: { 'metadata.json': digest } }),
    );
    expect(c.digests).toEqual({ 'metadata.json': digest });
  });

  it('keeps our master’s crc32c extension, and only its string values', () => {
    const c = decodeCheckpoint(
      asDto({ ...wireCheckpoint(), crc32c: { 'metadata.json': '0a1b2c3d', 'bad.bin': 7 } }),
    );
    expect(c.crc32c).toEqual({ 'metadata.json': '0a1b2c3d' });
  });

  const MALFORMED: [string, (wire: Record<string, unknown>) => unknown, RegExp][] = [
    ['not an object', () => 'oops', /^field checkpoint: expected an object, got "oops"$/],
    ['null', () => null, /^field checkpoint: expected an object, got null$/],
    [
      'no uuid',
      (w) => {
        delete w.uuid;
        return w;
      },
      /^field checkpoint\.uuid: missing \(expected a UUID\)$/,
    ],
    [
      'a uuid that would name another directory',
      (w) => ({ ...w, uuid: '../etc' }),
      /^field checkpoint\.uuid: expected a UUID, got "\.\.\/etc"$/,
    ],
    [
      'no resources map',
      (w) => ({ ...w, resources: undefined }),
      /^field checkpoint\.resources: missing \(expected an object\)$/,
    ],
    [
      'resources as an array',
      (w) => ({ ...w, resources: [] }),
      /^field checkpoint\.resources: expected an object, got an empty array$/,
    ],
    [
      'a state without its prefix',
      (w) => ({ ...w, state: 'COMPLETED' }),
      /^field checkpoint\.state: expected a STATE_ value, got "COMPLETED"$/,
    ],
    ['no state', (w) => ({ ...w, state: undefined }), /^field checkpoint\.state: missing/],
    [
      'a size that is not an integer',
      (w) => ({ ...w, resources: { 'model.bin': '12a' } }),
      /^field checkpoint\.resources\[model\.bin\]: expected an integer, got "12a"$/,
    ],
    [
      'a size past 2^53',
      (w) => ({ ...w, resources: { 'huge.bin': '9007199254740993' } }),
      /^field checkpoint\.resources\[huge\.bin\]: expected an integer/,
    ],
    [
      'a bad reportTime',
      (w) => ({ ...w, reportTime: 'yesterday' }),
      /^field checkpoint\.reportTime: expected an RFC 3339 timestamp, got "yesterday"$/,
    ],
    [
      'no reportTime',
      (w) => ({ ...w, reportTime: undefined }),
      /^field checkpoint\.reportTime: missing/,
    ],
    [
      'a trial without its experiment id',
      (w) => ({ ...w, training: { ...(w.training as object), experimentId: 'one' } }),
      /^field checkpoint\.training\.experimentId: expected an integer, got "one"$/,
    ],
  ];
  for (const [name, make, message] of MALFORMED) {
    it(`throws a TypeError naming the field for ${name}`, () => {
      expect(() => decodeCheckpoint(asDto(make(wireCheckpoint())))).toThrow(TypeError);
      expect(() => decodeCheckpoint(asDto(make(wireCheckpoint())))).toThrow(message);
    });
  }
});

describe('decodeMetrics', () => {
  it('is null for a missing or non-object metrics value', () => {
    expect(decodeMetrics(null)).toBeNull();
    expect(decodeMetrics(undefined)).toBeNull();
    expect(decodeMetrics([1])).toBeNull();
    expect(decodeMetrics('NaN')).toBeNull();
  });
});

function wireTrial(): Record<string, unknown> {
  return {
    id: 3,
    experimentId: 1,
    startTime: '2025-01-01T00:00:01Z',
    endTime: null,
    state: 'STATE_ACTIVE',
    restarts: 0,
    hparams: { lr: 0.01 },
    totalBatchesProcessed: 500,
    bestValidation: null,
    latestValidation: null,
    bestCheckpoint: null,
    runnerState: '',
    wallClockTime: 0,
    warmStartCheckpointUuid: '',
    taskId: '3.7d1e',
    taskIds: ['3.7d1e'],
    totalCheckpointSize: '46745',
    checkpointCount: 1,
    summaryMetrics: { validation_metrics: { validation_loss: { min: 0.11 } } },
  };
}

describe('decodeTrial', () => {
  it('decodes a real master’s trial', () => {
    expect(decodeTrial(wireTrial() as unknown as TrialDto)).toEqual({
      id: 3,
      experimentId: 1,
      state: 'ACTIVE',
      hparams: { lr: 0.01 },
      startTime: new Date('2025-01-01T00:00:01Z'),
      endTime: undefined,
      restarts: 0,
      totalBatchesProcessed: 500,
      taskId: '3.7d1e',
      summaryMetrics: { validation_metrics: { validation_loss: { min: 0.11 } } },
      bestValidation: null,
      latestValidation: null,
      searcherMetricValue: undefined,
      bestCheckpointUuid: undefined,
      checkpointCount: 1,
      totalCheckpointSize: 46745,
    });
  });

  it('decodes the best and latest validations, in either spelling of their metrics', () => {
    const t = decodeTrial({
      ...wireTrial(),
      bestValidation: {
        endTime: '2025-01-01T00:01:00Z',
        totalBatches: 300,
        numInputs: 0,
        metrics: { avgMetrics: { validation_loss: 0.11 }, batchMetrics: [] },
      },
      latestValidation: {
        endTime: '2025-01-01T00:02:00Z',
        totalBatches: '500',
        numInputs: 0,
        metrics: { avg_metrics: { validation_loss: 'NaN' } },
      },
      bestCheckpoint: { uuid: 'u-1', endTime: '2025-01-01T00:01:00Z', state: 'STATE_COMPLETED' },
      searcherMetricValue: 0.11,
    } as unknown as TrialDto);
    expect(t.bestValidation).toEqual({
      stepsCompleted: 300,
      endTime: new Date('2025-01-01T00:01:00Z'),
      metrics: { validation_loss: 0.11 },
    });
    expect(t.latestValidation?.stepsCompleted).toBe(500);
    expect(t.latestValidation?.metrics.validation_loss).toBeNaN();
    expect(t.bestCheckpointUuid).toBe('u-1');
    expect(t.searcherMetricValue).toBe(0.11);
    expect(() =>
      decodeTrial({
        ...wireTrial(),
        bestValidation: { endTime: 'yesterday', totalBatches: 1, metrics: {} },
      } as unknown as TrialDto),
    ).toThrow(/trial\.bestValidation\.endTime/);
  });

  it('reads int64 strings, an end time, and an empty taskId as none', () => {
    const t = decodeTrial({
      ...wireTrial(),
      id: '3',
      experimentId: '1',
      totalBatchesProcessed: '500',
      restarts: '2',
      endTime: '2025-01-02T00:00:00+00:00',
      state: 'STATE_COMPLETED',
      taskId: '',
      summaryMetrics: null,
    } as unknown as TrialDto);
    expect(t).toMatchObject({
      id: 3,
      experimentId: 1,
      totalBatchesProcessed: 500,
      restarts: 2,
      endTime: new Date('2025-01-02T00:00:00Z'),
      state: 'COMPLETED',
      taskId: undefined,
      summaryMetrics: null,
    });
  });

  it('gives defaults when optional counters are missing', () => {
    const wire = wireTrial();
    delete wire.restarts;
    delete wire.totalBatchesProcessed;
    delete wire.endTime;
    delete wire.hparams;
    const t = decodeTrial(wire as unknown as TrialDto);
    expect(t).toMatchObject({
      restarts: 0,
      totalBatchesProcessed: 0,
      endTime: undefined,
      hparams: {},
    });
  });

  const MALFORMED: [string, Record<string, unknown>, RegExp][] = [
    ['a bad id', { id: 'three' }, /^field trial\.id: expected an integer, got "three"$/],
    ['no experimentId', { experimentId: undefined }, /^field trial\.experimentId: missing/],
    [
      'a state without its prefix',
      { state: 'ACTIVE' },
      /^field trial\.state: expected a STATE_ value, got "ACTIVE"$/,
    ],
    ['no startTime', { startTime: undefined }, /^field trial\.startTime: missing/],
    [
      'a bad endTime',
      { endTime: 'soon' },
      /^field trial\.endTime: expected an RFC 3339 timestamp, got "soon"$/,
    ],
  ];
  for (const [name, patch, message] of MALFORMED) {
    it(`throws a TypeError naming the field for ${name}`, () => {
      const wire = { ...wireTrial(), ...patch } as unknown as TrialDto;
      expect(() => decodeTrial(wire)).toThrow(TypeError);
      expect(() => decodeTrial(wire)).toThrow(message);
    });
  }
  it('throws a TypeError for a missing trial', () => {
    expect(() => decodeTrial(undefined as unknown as TrialDto)).toThrow(
      /^field trial: missing \(expected an object\)$/,
    );
  });
});

function wireExperiment(): Record<string, unknown> {
  return {
    id: 1,
    name: 'mnist',
    startTime: '2025-01-01T00:00:00Z',
    endTime: null,
    state: 'STATE_ACTIVE',
    archived: false,
    numTrials: 2,
    trialIds: [3, 4],
    config: CONFIG,
    originalConfig: 'name: mnist\n',
    checkpointSize: '46745',
    checkpointCount: 1,
    unmanaged: false,
  };
}

describe('decodeExperiment', () => {
  it('decodes a real master’s experiment and its searcher', () => {
    expect(decodeExperiment(wireExperiment() as unknown as ExperimentDto)).toEqual({
      id: 1,
      name: 'mnist',
      state: 'ACTIVE',
      config: CONFIG,
      searcherMetric: 'validation_loss',
      smallerIsBetter: true,
      numTrials: 2,
      trialIds: [3, 4],
      startTime: new Date('2025-01-01T00:00:00Z'),
      endTime: undefined,
      unmanaged: false,
      description: '',
      labels: [],
      username: '',
      archived: false,
      hyperparameters: {},
      searcherType: 'single',
      progress: undefined,
      checkpointCount: 1,
      checkpointSize: 46745,
      bestTrialSearcherMetric: undefined,
      bestTrialId: undefined,
    });
  });

  it('reads the best trial, the owner and "Infinity" as a number', () => {
    const e = decodeExperiment({
      ...wireExperiment(),
      username: 'alice',
      bestTrialSearcherMetric: 'Infinity',
      bestTrialId: '4',
      progress: 0.5,
      labels: ['a', 3, 'b'],
    } as unknown as ExperimentDto);
    expect(e).toMatchObject({
      username: 'alice',
      bestTrialId: 4,
      progress: 0.5,
      labels: ['a', 'b'],
    });
    expect(e.bestTrialSearcherMetric).toBe(Number.POSITIVE_INFINITY);
  });

  it('defaults smaller_is_better to true and reads int64 strings', () => {
    const e = decodeExperiment({
      ...wireExperiment(),
      id: '1',
      numTrials: '2',
      trialIds: ['3', 4],
      unmanaged: true,
      config: { searcher: { name: 'single', metric: 'accuracy' } },
    } as unknown as ExperimentDto);
    expect(e).toMatchObject({
      id: 1,
      numTrials: 2,
      trialIds: [3, 4],
      searcherMetric: 'accuracy',
      smallerIsBetter: true,
      unmanaged: true,
    });
    const larger = decodeExperiment({
      ...wireExperiment(),
      config: { searcher: { metric: 'accuracy', smaller_is_better: false } },
    } as unknown as ExperimentDto);
    expect(larger.smallerIsBetter).toBe(false);
  });

  it('has no searcher metric when the config names none', () => {
    const e = decodeExperiment({ ...wireExperiment(), config: {} } as unknown as ExperimentDto);
    expect(e.searcherMetric).toBeUndefined();
    expect(e.smallerIsBetter).toBe(true);
  });

  it('throws a TypeError naming the field for a bad id, trial id or start time', () => {
    const bad = (patch: Record<string, unknown>) => () =>
      decodeExperiment({ ...wireExperiment(), ...patch } as unknown as ExperimentDto);
    expect(bad({ id: null })).toThrow(/^field experiment\.id: expected an integer, got null$/);
    expect(bad({ trialIds: [3, 'x'] })).toThrow(
      /^field experiment\.trialIds\[1\]: expected an integer, got "x"$/,
    );
    expect(bad({ startTime: 12 })).toThrow(
      /^field experiment\.startTime: expected an RFC 3339 timestamp, got 12$/,
    );
  });
});

describe('decodeCheckpointList', () => {
  it('decodes the checkpoints and the pagination', () => {
    const list = decodeCheckpointList({
      checkpoints: [wireCheckpoint()],
      pagination: { offset: 0, limit: 1, startIndex: 0, endIndex: 1, total: 9 },
    });
    expect(list.checkpoints.map((c) => c.uuid)).toEqual(['8f0c2a6e-0000-4000-8000-000000000001']);
    expect(list.pagination).toEqual({ offset: 0, limit: 1, startIndex: 0, endIndex: 1, total: 9 });
  });

  it('throws a TypeError naming the field for a malformed listing', () => {
    expect(() => decodeCheckpointList({ pagination: {} })).toThrow(
      /^field checkpoints: missing \(expected an array\)$/,
    );
    expect(() => decodeCheckpointList({ checkpoints: {} })).toThrow(
      /^field checkpoints: expected an array, got an object$/,
    );
    expect(() => decodeCheckpointList(null)).toThrow(/^field response: expected an object/);
    expect(() => decodeCheckpointList({ checkpoints: [] })).toThrow(
      /^field pagination: missing \(expected an object\)$/,
    );
    expect(() => decodePagination({ offset: 0, limit: 1, startIndex: 0, endIndex: 1 })).toThrow(
      /^field pagination\.total: missing \(expected an integer\)$/,
    );
    expect(() => decodeCheckpointList({ checkpoints: [{ uuid: 1 }], pagination: {} })).toThrow(
      /^field checkpoints\[0\]\.uuid: expected a UUID, got 1$/,
    );
  });
});

describe('the browsing decoders', () => {
  it('decode a data point, keeping only numeric values', () => {
    const p = decodeDataPoint({
      batches: 100,
      time: '2025-01-01T00:00:00Z',
      values: { loss: 0.5, acc: '-Infinity', note: 'text', nested: { a: 1 } },
    });
    expect(p).toEqual({
      batches: 100,
      time: new Date('2025-01-01T00:00:00Z'),
      epoch: undefined,
      values: { loss: 0.5, acc: Number.NEGATIVE_INFINITY },
    });
    expect(() =>
      decodeDataPoint({ batches: 'x', time: '2025-01-01T00:00:00Z', values: {} } as never),
    ).toThrow(/^field dataPoint\.batches: expected an integer, got "x"$/);
  });

  it('decode a checkpoint marker and refuse one without a uuid', () => {
    expect(
      decodeCheckpointMarker({
        uuid: 'u',
        stepsCompleted: 7,
        state: 'STATE_COMPLETED',
        reportTime: '2025-01-01T00:00:00Z',
        size: '1024',
        searcherMetric: 'NaN',
      } as unknown as CheckpointMarkerDto),
    ).toMatchObject({ uuid: 'u', stepsCompleted: 7, state: 'COMPLETED', size: 1024 });
    expect(() => decodeCheckpointMarker({ stepsCompleted: 1 } as never)).toThrow(
      /^field marker\.uuid: missing/,
    );
  });

  it('decode a user and a log line', () => {
    expect(
      decodeUser({ id: 2, username: 'determined', admin: false, active: true } as UserDto),
    ).toEqual({ id: 2, username: 'determined', displayName: '', admin: false, active: true });
    expect(() => decodeUser({ id: 2 } as never)).toThrow(/^field user\.username: missing/);
    expect(
      decodeTrialLog({
        id: '9',
        trialId: 1,
        timestamp: '2025-01-01T00:00:00Z',
        message: 'hello\n',
        level: 'LOG_LEVEL_INFO',
        log: 'hello\n',
        rankId: 0,
      }),
    ).toEqual({
      id: '9',
      timestamp: new Date('2025-01-01T00:00:00Z'),
      message: 'hello\n',
      stdtype: undefined,
      rankId: 0,
    });
  });
});
