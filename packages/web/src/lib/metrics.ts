import type { TrialSummaryMetrics } from '@determined-ts/api';
import { METRIC_GROUP_TRAINING, METRIC_GROUP_VALIDATION } from '@determined-ts/api';

/** One numeric metric a trial reported, as the metric picker offers it. */
export interface MetricOption {
  /** Unique among the options: the metric name, or `group:name` when two groups share it. */
  key: string;
  /** The group to ask the master for: `training`, `validation` or a custom group. */
  group: string;
  name: string;
  label: string;
}

// summaryMetrics keys its two fixed groups by their Determined field names.
const SUMMARY_GROUPS: Record<string, string> = {
  avg_metrics: METRIC_GROUP_TRAINING,
  validation_metrics: METRIC_GROUP_VALIDATION,
};

function groupRank(group: string): number {
  return group === METRIC_GROUP_VALIDATION ? 0 : group === METRIC_GROUP_TRAINING ? 1 : 2;
}

/**
 * The numeric metrics in a trial's `summaryMetrics`: validation first, then training, then custom
 * groups, each by name. A name that two groups share gets the group in its key and label.
 */
export function metricOptions(summary: TrialSummaryMetrics | null): MetricOption[] {
  const found: { group: string; name: string }[] = [];
  for (const [summaryKey, metrics] of Object.entries(summary ?? {})) {
    const group = SUMMARY_GROUPS[summaryKey] ?? summaryKey;
    for (const [name, stats] of Object.entries(metrics)) {
      if (stats.type === 'number') {
        found.push({ group, name });
      }
    }
  }
  found.sort(
    (a, b) =>
      groupRank(a.group) - groupRank(b.group) ||
      a.group.localeCompare(b.group) ||
      a.name.localeCompare(b.name),
  );
  const counts = new Map<string, number>();
  for (const { name } of found) {
    counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  return found.map(({ group, name }) => {
    const shared = (counts.get(name) ?? 0) > 1;
    return {
      key: shared ? `${group}:${name}` : name,
      group,
      name,
      label: shared ? `${name} (${group})` : name,
    };
  });
}

/**
 * The metric to chart: the one the URL names, else the searcher metric (a validation metric),
 * else the first validation metric, else the first of any group.
 */
export function pickMetric(
  options: readonly MetricOption[],
  requested: string | null,
  searcherMetric: string | undefined,
): MetricOption | undefined {
  return (
    options.find((o) => o.key === requested) ??
    options.find((o) => o.group === METRIC_GROUP_VALIDATION && o.name === searcherMetric) ??
    options.find((o) => o.name === searcherMetric) ??
    options.find((o) => o.group === METRIC_GROUP_VALIDATION) ??
    options[0]
  );
}
