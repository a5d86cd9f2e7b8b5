import type { Metrics } from '@determined-ts/sdk/client';

import { formatMetric } from '../lib/format';

/** A report's metrics, by name. */
export function MetricsTable({ metrics, caption }: { metrics: Metrics; caption: string }) {
  const entries = Object.entries(metrics).sort(([a], [b]) => a.localeCompare(b));
  return (
    <table className="compact">
      <caption>{caption}</caption>
      <tbody>
        {entries.map(([name, value]) => (
          <tr key={name}>
            <th scope="row">{name}</th>
            <td className="num">{formatMetric(value)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
