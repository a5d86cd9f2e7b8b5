import type { CheckpointMarker, MetricPoint } from '@determined-ts/sdk/client';

/** One point of a charted series: x is the step (batches), y the metric value. */
export interface SeriesPoint {
  x: number;
  y: number;
}

/**
 * The points of metric `name`, in step order. On a log scale the values at or below zero cannot
 * be drawn: they are left out and counted in `dropped`.
 */
export function seriesPoints(
  points: readonly MetricPoint[],
  name: string,
  isLog: boolean,
): { points: SeriesPoint[]; dropped: number } {
  const out: SeriesPoint[] = [];
  let dropped = 0;
  for (const p of points) {
    const y = p.values[name];
    if (y === undefined || !Number.isFinite(y)) {
      continue;
    }
    if (isLog && y <= 0) {
      dropped += 1;
      continue;
    }
    out.push({ x: p.batches, y });
  }
  out.sort((a, b) => a.x - b.x);
  return { points: out, dropped };
}

/** Whether a series has anything a log scale can draw. */
export function hasPositiveValue(points: readonly MetricPoint[], name: string): boolean {
  return points.some((p) => {
    const y = p.values[name];
    return y !== undefined && Number.isFinite(y) && y > 0;
  });
}

/**
 * The series' value at `step`: its own when it has that step, else interpolated linearly between
 * the neighbouring steps, else (before the first or after the last) the nearest end's value.
 * `undefined` for an empty series.
 */
export function valueAtStep(points: readonly SeriesPoint[], step: number): number | undefined {
  if (points.length === 0) {
    return undefined;
  }
  let lo = 0;
  let hi = points.length - 1;
  const first = points[lo];
  const last = points[hi];
  if (first === undefined || last === undefined) {
    return undefined;
  }
  if (step <= first.x) {
    return first.y;
  }
  if (step >= last.x) {
    return last.y;
  }
  // Invariant: points[lo].x < step < points[hi].x, unless an exact match is found.
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    const p = points[mid];
    if (p === undefined) {
      break;
    }
    if (p.x === step) {
      return p.y;
    }
    if (p.x < step) {
      lo = mid;
    } else {
      hi = mid;
    }
  }
  const a = points[lo];
  const b = points[hi];
  if (a === undefined || b === undefined) {
    return undefined;
  }
  return a.y + ((b.y - a.y) * (step - a.x)) / (b.x - a.x);
}

/** A checkpoint marker with its place in data space; `y` is undefined when there is no curve. */
export interface MarkerPoint {
  marker: CheckpointMarker;
  x: number;
  y: number | undefined;
}

/** Puts each marker on the curve: x is its step, y the curve's value there. */
export function markerPoints(
  markers: readonly CheckpointMarker[],
  points: readonly SeriesPoint[],
): MarkerPoint[] {
  return markers.map((marker) => ({
    marker,
    x: marker.stepsCompleted,
    y: valueAtStep(points, marker.stepsCompleted),
  }));
}

/** The plotting area, in CSS pixels relative to the chart's top-left corner. */
export interface PlotBox {
  left: number;
  top: number;
  width: number;
  height: number;
}

/**
 * Where a marker's button goes, given the chart's value→pixel mapping (relative to the plotting
 * area); `undefined` when it falls outside the plot (after a zoom). A marker with no y value
 * sits on the plot's bottom edge.
 */
export function markerPosition(
  point: MarkerPoint,
  box: PlotBox,
  toPixel: (value: number, axis: 'x' | 'y') => number,
): { left: number; top: number } | undefined {
  const x = toPixel(point.x, 'x');
  const y = point.y === undefined ? box.height : toPixel(point.y, 'y');
  const slack = 0.5;
  if (!Number.isFinite(x) || x < -slack || x > box.width + slack) {
    return undefined;
  }
  if (!Number.isFinite(y) || y < -slack || y > box.height + slack) {
    return undefined;
  }
  return { left: box.left + x, top: box.top + y };
}
