import { useEffect, useRef, useState } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

import type { CheckpointMarker } from '@determined-ts/sdk/client';

import type { MarkerPoint, PlotBox, SeriesPoint } from '../lib/chart-data';
import { markerPoints, markerPosition } from '../lib/chart-data';
import { formatCount, formatMetric } from '../lib/format';

const HEIGHT = 320;
const MIN_WIDTH = 320;

interface PlacedMarker {
  point: MarkerPoint;
  left: number;
  top: number;
}

/**
 * Where each marker's button goes once uPlot has drawn: its plotting area is at `bbox` (canvas
 * pixels) inside the chart, and `valToPos` maps values to CSS pixels within that area.
 */
function placeMarkers(u: uPlot, points: readonly MarkerPoint[]): PlacedMarker[] {
  const ratio = uPlot.pxRatio;
  const box: PlotBox = {
    left: u.bbox.left / ratio,
    top: u.bbox.top / ratio,
    width: u.bbox.width / ratio,
    height: u.bbox.height / ratio,
  };
  const placed: PlacedMarker[] = [];
  for (const point of points) {
    const at = markerPosition(point, box, (value, axis) => u.valToPos(value, axis));
    if (at !== undefined) {
      placed.push({ point, ...at });
    }
  }
  return placed;
}

/**
 * One metric's curve (uPlot on a canvas: fast with many points; drag to zoom, double-click to
 * reset) with a button on it for each checkpoint, at its step.
 */
export function MetricChart({
  label,
  points,
  isLog,
  markers,
  bestUuid,
  latestUuid,
  onOpenCheckpoint,
}: {
  label: string;
  points: readonly SeriesPoint[];
  isLog: boolean;
  markers: readonly CheckpointMarker[];
  bestUuid: string | undefined;
  latestUuid: string | undefined;
  onOpenCheckpoint: (uuid: string) => void;
}) {
  const plotRef = useRef<HTMLDivElement>(null);
  const [placed, setPlaced] = useState<PlacedMarker[]>([]);

  useEffect(() => {
    const el = plotRef.current;
    if (el === null) {
      return undefined;
    }
    const onCurve = markerPoints(markers, points);
    // Every checkpoint's step is on the x axis too (a null there), so none falls off the end.
    const steps = [
      ...new Set([...points.map((p) => p.x), ...markers.map((m) => m.stepsCompleted)]),
    ];
    steps.sort((a, b) => a - b);
    const byStep = new Map(points.map((p) => [p.x, p.y]));
    const data: uPlot.AlignedData = [steps, steps.map((x) => byStep.get(x) ?? null)];
    const width = (): number => Math.max(el.clientWidth, MIN_WIDTH);
    const plot = new uPlot(
      {
        width: width(),
        height: HEIGHT,
        scales: { x: { time: false }, y: { distr: isLog ? 3 : 1 } },
        series: [
          { label: 'Batches', value: (_u, v) => (v === null ? '' : formatCount(v)) },
          {
            label,
            stroke: '#2563eb',
            width: 2,
            spanGaps: true,
            points: { show: points.length <= 60 },
            value: (_u, v) => (v === null ? '' : formatMetric(v)),
          },
        ],
        axes: [{ label: 'Batches' }, { label, size: 70 }],
        cursor: { drag: { x: true, y: false } },
        hooks: { draw: [(u) => setPlaced(placeMarkers(u, onCurve))] },
      },
      data,
      el,
    );
    const resize =
      typeof ResizeObserver === 'undefined'
        ? undefined
        : new ResizeObserver(() => plot.setSize({ width: width(), height: HEIGHT }));
    resize?.observe(el);
    return () => {
      resize?.disconnect();
      plot.destroy();
    };
  }, [label, points, isLog, markers]);

  return (
    <div className="chart" data-testid="metric-chart">
      <div ref={plotRef} />
      {placed.map(({ point, left, top }) => {
        const { uuid, stepsCompleted, state } = point.marker;
        const isBest = uuid === bestUuid;
        const isLatest = uuid === latestUuid;
        const classes = ['marker', `marker-${state.toLowerCase()}`];
        if (isBest) {
          classes.push('marker-best');
        }
        if (isLatest) {
          classes.push('marker-latest');
        }
        const value = point.y === undefined ? '' : `, ${label} ${formatMetric(point.y)}`;
        const tags = [isBest ? 'best' : '', isLatest ? 'latest' : '', state.toLowerCase()]
          .filter((t) => t !== '')
          .join(', ');
        return (
          <button
            key={uuid}
            type="button"
            className={classes.join(' ')}
            style={{ left, top }}
            data-testid="checkpoint-marker"
            data-uuid={uuid}
            data-best={isBest ? 'true' : undefined}
            data-latest={isLatest ? 'true' : undefined}
            aria-label={`Checkpoint ${uuid} at step ${stepsCompleted}`}
            title={`Checkpoint ${uuid.slice(0, 8)} (${tags}) at step ${formatCount(stepsCompleted)}${value}`}
            // Hundreds of markers would swamp the tab order; the best and latest stay in it.
            tabIndex={isBest || isLatest ? 0 : -1}
            onClick={() => onOpenCheckpoint(uuid)}
          />
        );
      })}
    </div>
  );
}
