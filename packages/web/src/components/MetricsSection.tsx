import { useQuery } from '@tanstack/react-query';
import { useId, useMemo } from 'react';
import { useNavigate, useSearchParams } from 'react-router';

import { getCheckpointMarkers, getTrialMetricSeries } from '@determined-ts/sdk/client';
import type { CheckpointMarker } from '@determined-ts/sdk/client';

import { useClient } from '../client-context';
import { hasPositiveValue, seriesPoints } from '../lib/chart-data';
import { formatCount } from '../lib/format';
import { metricOptions, pickMetric } from '../lib/metrics';
import { checkpointPath } from '../lib/paths';
import { MetricChart } from './MetricChart';
import { QueryError } from './QueryError';
import type { TrialSectionProps } from './trial-section';

/** Points per series and markers per chart: enough to see the shape, never the whole history. */
const MAX_POINTS = 1000;
const MAX_MARKERS = 500;

// One empty list, so the chart does not see a new one on every render.
const NO_MARKERS: CheckpointMarker[] = [];

/** The trial's curves: pick a metric, linear or log, with its checkpoints marked on the curve. */
export function MetricsSection({
  trial,
  experiment,
  bestUuid,
  latestUuid,
  refetchInterval,
}: TrialSectionProps) {
  const client = useClient();
  const navigate = useNavigate();
  const [params, setParams] = useSearchParams();
  const options = useMemo(() => metricOptions(trial.summaryMetrics), [trial.summaryMetrics]);
  const metric = pickMetric(options, params.get('metric'), experiment?.searcherMetric);
  const wantsLog = params.get('scale') === 'log';
  const selectId = useId();

  const series = useQuery({
    queryKey: ['metric-series', trial.id, metric?.group, metric?.name],
    queryFn: ({ signal }) =>
      metric === undefined
        ? Promise.resolve([])
        : getTrialMetricSeries(client, trial.id, {
            group: metric.group,
            metricNames: [metric.name],
            maxDatapoints: MAX_POINTS,
            signal,
          }),
    refetchInterval,
  });
  const markers = useQuery({
    queryKey: ['checkpoint-markers', trial.id],
    queryFn: ({ signal }) =>
      getCheckpointMarkers(client, trial.id, { maxMarkers: MAX_MARKERS, signal }),
    refetchInterval,
  });

  const canLog = metric !== undefined && hasPositiveValue(series.data ?? [], metric.name);
  const isLog = wantsLog && canLog;
  const drawn = useMemo(
    () => seriesPoints(series.data ?? [], metric?.name ?? '', isLog),
    [series.data, metric?.name, isLog],
  );

  const setParam = (name: string, value: string | undefined): void =>
    setParams(
      (current) => {
        const next = new URLSearchParams(current);
        if (value === undefined) {
          next.delete(name);
        } else {
          next.set(name, value);
        }
        return next;
      },
      { replace: true },
    );

  const markerList = markers.data?.markers ?? NO_MARKERS;
  const markerTotal = markers.data?.total ?? 0;
  return (
    <section aria-labelledby="metrics">
      <h2 id="metrics">Metrics</h2>
      <div className="toolbar">
        <span className="filter">
          <label htmlFor={selectId}>Metric</label>
          <select
            id={selectId}
            value={metric?.key ?? ''}
            onChange={(e) => setParam('metric', e.target.value)}
            disabled={options.length === 0}
          >
            {options.length === 0 ? <option value="">No metrics yet</option> : null}
            {options.map((o) => (
              <option key={o.key} value={o.key}>
                {o.label}
              </option>
            ))}
          </select>
        </span>
        <label
          className="check"
          title={canLog ? undefined : 'A log scale needs positive values to draw.'}
        >
          {/* The choice shows at once; it is only refused once the data says it cannot draw. */}
          <input
            type="checkbox"
            checked={wantsLog && (canLog || !series.isSuccess)}
            disabled={series.isSuccess && !canLog}
            onChange={(e) => setParam('scale', e.target.checked ? 'log' : undefined)}
          />
          Log scale
        </label>
        {wantsLog && !canLog && series.isSuccess ? (
          <span className="muted" role="note">
            Log scale needs positive values; this metric has none.
          </span>
        ) : null}
        {isLog && drawn.dropped > 0 ? (
          <span className="muted" role="note">
            Log scale leaves out {formatCount(drawn.dropped)} values at or below zero.
          </span>
        ) : null}
      </div>
      {series.isError ? <QueryError error={series.error} what="the metric" /> : null}
      {markers.isError ? <QueryError error={markers.error} what="the checkpoint markers" /> : null}
      {series.isPending || markers.isPending ? (
        <p className="loading">Loading…</p>
      ) : drawn.points.length === 0 && markerList.length === 0 ? (
        <p className="empty">
          {metric === undefined ? 'No metrics reported yet.' : `No ${metric.name} reported yet.`}
        </p>
      ) : (
        <MetricChart
          label={metric === undefined ? 'No metric' : metric.label}
          points={drawn.points}
          isLog={isLog}
          markers={markerList}
          bestUuid={bestUuid}
          latestUuid={latestUuid}
          onOpenCheckpoint={(uuid) => void navigate(checkpointPath(trial.id, uuid))}
        />
      )}
      {markerList.length < markerTotal ? (
        <p className="muted">
          showing {formatCount(markerList.length)} of {formatCount(markerTotal)} checkpoints
        </p>
      ) : null}
    </section>
  );
}
