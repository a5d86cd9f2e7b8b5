import { describe, expect, it } from 'vitest';

import type { CheckpointMarker, MetricPoint } from '@determined-ts/sdk/client';

import {
  hasPositiveValue,
  markerPoints,
  markerPosition,
  seriesPoints,
  valueAtStep,
} from './chart-data';

const point = (batches: number, values: Record<string, number>): MetricPoint => ({
  batches,
  time: new Date(0),
  epoch: undefined,
  values,
});

const marker = (uuid: string, stepsCompleted: number): CheckpointMarker => ({
  uuid,
  stepsCompleted,
  state: 'COMPLETED',
  reportTime: new Date(0),
  size: 1,
  searcherMetric: undefined,
});

const CURVE = [
  { x: 100, y: 1 },
  { x: 200, y: 0.5 },
  { x: 400, y: 0.3 },
];

describe('valueAtStep', () => {
  it("takes the curve's own value at a step it has", () => {
    expect(valueAtStep(CURVE, 200)).toBe(0.5);
    expect(valueAtStep(CURVE, 400)).toBe(0.3);
  });

  it('interpolates linearly between the neighbouring steps', () => {
    expect(valueAtStep(CURVE, 150)).toBeCloseTo(0.75);
    expect(valueAtStep(CURVE, 300)).toBeCloseTo(0.4);
  });

  it('takes the nearest end outside the curve', () => {
    expect(valueAtStep(CURVE, 0)).toBe(1);
    expect(valueAtStep(CURVE, 900)).toBe(0.3);
  });

  it('has no value on an empty curve', () => {
    expect(valueAtStep([], 100)).toBeUndefined();
  });
});

describe('markerPoints', () => {
  it("puts each marker at its step on the curve's value there", () => {
    const placed = markerPoints([marker('a', 100), marker('b', 300)], CURVE);
    expect(placed.map((p) => [p.marker.uuid, p.x, p.y])).toEqual([
      ['a', 100, 1],
      ['b', 300, expect.closeTo(0.4) as number],
    ]);
  });
});

describe('seriesPoints', () => {
  const points = [point(200, { loss: 0.5 }), point(100, { loss: -1 }), point(300, { acc: 1 })];

  it("keeps the metric's points in step order and skips reports without it", () => {
    expect(seriesPoints(points, 'loss', false)).toEqual({
      points: [
        { x: 100, y: -1 },
        { x: 200, y: 0.5 },
      ],
      dropped: 0,
    });
  });

  it('leaves out and counts what a log scale cannot draw', () => {
    expect(seriesPoints(points, 'loss', true)).toEqual({
      points: [{ x: 200, y: 0.5 }],
      dropped: 1,
    });
  });

  it('tells whether a log scale has anything to draw', () => {
    expect(hasPositiveValue(points, 'loss')).toBe(true);
    expect(hasPositiveValue([point(1, { loss: 0 }), point(2, { loss: -3 })], 'loss')).toBe(false);
    expect(hasPositiveValue(points, 'missing')).toBe(false);
  });
});

describe('markerPosition', () => {
  const box = { left: 50, top: 10, width: 400, height: 200 };
  // A plot of steps 0–1000 across and values 0–1 upwards.
  const toPixel = (value: number, axis: 'x' | 'y') =>
    axis === 'x' ? (value / 1000) * box.width : (1 - value) * box.height;
  const at = (x: number, y: number | undefined) => ({ marker: marker('m', x), x, y });

  it('maps the point into the plotting box', () => {
    expect(markerPosition(at(500, 0.5), box, toPixel)).toEqual({ left: 250, top: 110 });
  });

  it('hides markers outside the plot, as after a zoom', () => {
    expect(markerPosition(at(1500, 0.5), box, toPixel)).toBeUndefined();
    expect(markerPosition(at(500, 2), box, toPixel)).toBeUndefined();
    expect(markerPosition(at(500, Number.NaN), box, () => Number.NaN)).toBeUndefined();
  });

  it('puts a marker with no value on the bottom edge', () => {
    expect(markerPosition(at(0, undefined), box, toPixel)).toEqual({ left: 50, top: 210 });
  });
});
