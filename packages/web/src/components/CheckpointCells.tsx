import { Link } from 'react-router';

import { formatBytes, formatCount, formatMetric, NO_VALUE } from '../lib/format';
import { checkpointPath, trialPath } from '../lib/paths';

/*
 * The columns every checkpoint table of the experiment page starts with (its best checkpoints,
 * what a retention policy would delete): UUID, trial, steps, searcher metric, size.
 */

/** The header cells, the searcher metric's column named `metric`. */
export function CheckpointHeadCells({ metric }: { metric: string }) {
  return (
    <>
      <th scope="col">UUID</th>
      <th scope="col">Trial</th>
      <th scope="col" className="num">
        Steps
      </th>
      <th scope="col" className="num">
        {metric}
      </th>
      <th scope="col" className="num">
        Size
      </th>
    </>
  );
}

/** One checkpoint's cells: its UUID and trial link to their pages. */
export function CheckpointCells(props: {
  uuid: string;
  trialId: number;
  steps: number | undefined;
  metric: number | undefined;
  bytes: number;
}) {
  return (
    <>
      <td>
        <Link to={checkpointPath(props.trialId, props.uuid)} className="uuid">
          {props.uuid}
        </Link>
      </td>
      <td>
        <Link to={trialPath(props.trialId)}>Trial {props.trialId}</Link>
      </td>
      <td className="num">{props.steps === undefined ? NO_VALUE : formatCount(props.steps)}</td>
      <td className="num">{formatMetric(props.metric)}</td>
      <td className="num">{formatBytes(props.bytes)}</td>
    </>
  );
}
