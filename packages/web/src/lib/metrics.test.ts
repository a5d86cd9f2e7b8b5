import { describe, expect, it } from 'vitest';

import type { TrialSummaryMetrics } from '@determined-ts/api';

import { metricOptions, pickMetric } from './metrics';

const num = { type: 'number', count: 3 };

const SUMMARY: TrialSummaryMetrics = {
  avg_metrics: { loss: num, lr: num, note: { type: 'string' } },
  validation_metrics: { validation_loss: num, accuracy: num },
  gpu: { util: num },
};

describe('metricOptions', () => {
  it('lists numeric metrics, validation first, then training, then custom groups', () => {
    expect(metricOptions(SUMMARY).map((o) => [o.group, o.name])).toEqual([
      ['validation', 'accuracy'],
      ['validation', 'validation_loss'],
      ['training', 'loss'],
      ['training', 'lr'],
      ['gpu', 'util'],
    ]);
  });

  it('keys a metric by its name, and by group and name when two groups share it', () => {
    const options = metricOptions({
      avg_metrics: { loss: num, lr: num },
      validation_metrics: { loss: num },
    });
    expect(options.map((o) => [o.key, o.label])).toEqual([
      ['validation:loss', 'loss (validation)'],
      ['training:loss', 'loss (training)'],
      ['lr', 'lr'],
    ]);
  });

  it('has nothing to offer for a trial with no metrics', () => {
    expect(metricOptions(null)).toEqual([]);
    expect(metricOptions({})).toEqual([]);
  });
});

describe('pickMetric', () => {
  const options = metricOptions(SUMMARY);

  it('defaults to the searcher metric in the validation group', () => {
    expect(pickMetric(options, null, 'validation_loss')?.key).toBe('validation_loss');
  });

  it('takes the metric the URL names', () => {
    expect(pickMetric(options, 'loss', 'validation_loss')?.group).toBe('training');
  });

  it('ignores a URL metric the trial does not have', () => {
    expect(pickMetric(options, 'bogus', 'validation_loss')?.key).toBe('validation_loss');
  });

  it('finds a searcher metric reported outside the validation group', () => {
    expect(pickMetric(options, null, 'util')?.group).toBe('gpu');
  });

  it('falls back to the first validation metric, then to anything', () => {
    expect(pickMetric(options, null, undefined)?.key).toBe('accuracy');
    const trainingOnly = metricOptions({ avg_metrics: { loss: num } });
    expect(pickMetric(trainingOnly, null, 'validation_loss')?.key).toBe('loss');
    expect(pickMetric([], null, 'validation_loss')).toBeUndefined();
  });

  it('prefers the validation copy of a searcher metric both groups report', () => {
    const both = metricOptions({ avg_metrics: { loss: num }, validation_metrics: { loss: num } });
    expect(pickMetric(both, null, 'loss')?.key).toBe('validation:loss');
  });
});
