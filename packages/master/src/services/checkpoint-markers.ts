import type {
  CheckpointMarkerDto,
  CheckpointMarkersResponse,
  CheckpointState,
} from '@determined-ts/api';
import { encodeDouble, encodeTimestamp } from '@determined-ts/api';
import { sql } from 'kysely';
import type { Kysely } from 'kysely';

import type { DialectName } from '../db/dialect.js';
import type { Database } from '../db/schema.js';

/** Default and largest `maxMarkers`. */
export const DEFAULT_MAX_MARKERS = 500;
export const MAX_MARKERS = 10_000;

/** The narrow columns a marker needs; never a whole checkpoint. */
interface MarkerRow {
  id: number;
  uuid: string;
  steps_completed: number;
  state: string;
  report_time: number;
  size: number;
  searcher_metric: number | null;
}

const COLUMNS = sql`c.id, c.uuid, c.steps_completed, c.state, c.report_time, c.size, c.searcher_metric`;
/** The checkpoints markers are drawn for: not deleted, and with a step to draw them at. */
const SHOWN = sql`c.state <> 'STATE_DELETED' and c.steps_completed is not null`;

/**
 * Where a trial's checkpoints sit on its curves, at most `maxMarkers` of them
 * (`GET /api/v1/trials/{id}/checkpoint-markers`).
 *
 * With more checkpoints than that, the best and the latest COMPLETED checkpoints (by DESIGN.md's
 * rules) are always kept, and the trial's step range [first, last] (deleted checkpoints included)
 * is cut into `maxMarkers - k` equal buckets (k = how many of best and latest exist) with one
 * checkpoint per non-empty bucket:
 * the one with the best searcher metric (ties and checkpoints without one as the best rule:
 * larger step, later report, smaller uuid). The database ranks the buckets; only the winners
 * come back.
 */
export async function checkpointMarkers(
  db: Kysely<Database>,
  dialect: DialectName,
  trial: { id: number; smallerIsBetter: boolean },
  maxMarkers: number,
): Promise<CheckpointMarkersResponse> {
  // The count from the counters (less the few without a step), the range from the step index:
  // neither reads the trial's checkpoints.
  const counted = (
    await sql<{ n: number | null; unstepped: number }>`
      select (select sum(cc.n) from checkpoint_counts cc
                where cc.trial_id = ${trial.id} and cc.state <> 'STATE_DELETED') as n,
             (select count(*) from checkpoints c where c.trial_id = ${trial.id}
                and c.steps_completed is null and c.state <> 'STATE_DELETED') as unstepped`.execute(
      db,
    )
  ).rows[0];
  const total = Number(counted?.n ?? 0) - Number(counted?.unstepped ?? 0);
  if (total <= maxMarkers) {
    const { rows } = await sql<MarkerRow>`select ${COLUMNS} from checkpoints c
      where c.trial_id = ${trial.id} and ${SHOWN}`.execute(db);
    return { markers: sortByStep(rows).map(toMarker), total };
  }
  const keep = [
    ...new Map(
      [await bestCompleted(db, dialect, trial), await latestCompleted(db, dialect, trial.id)]
        .filter((r): r is MarkerRow => r !== undefined)
        .map((r) => [r.id, r]),
    ).values(),
  ].slice(0, maxMarkers);
  const buckets = maxMarkers - keep.length;
  const winners: MarkerRow[] = [];
  if (buckets > 0) {
    // The step range of all the trial's checkpoints (deleted ones too: an index lookup).
    const range = (
      await sql<{ lo: number | null; hi: number | null }>`
        select min(c.steps_completed) as lo, max(c.steps_completed) as hi
        from checkpoints c where c.trial_id = ${trial.id}`.execute(db)
    ).rows[0];
    const lo = Number(range?.lo ?? 0);
    const span = Number(range?.hi ?? 0) - lo + 1;
    const sign = sql.lit(trial.smallerIsBetter ? 1 : -1);
    const { rows } = await sql<MarkerRow>`select ${sql.raw(
      'id, uuid, steps_completed, state, report_time, size, searcher_metric',
    )} from (
        select ${COLUMNS}, row_number() over (
          partition by (c.steps_completed - ${sql.lit(lo)}) * ${sql.lit(buckets)} / ${sql.lit(span)}
          order by (c.searcher_metric is null), c.searcher_metric * ${sign},
            c.steps_completed desc, c.report_time desc, c.uuid asc) as rank
        from checkpoints c where c.trial_id = ${trial.id} and ${SHOWN}) w
      where w.rank = 1`.execute(db);
    winners.push(...rows);
  }
  const kept = new Set(keep.map((r) => r.id));
  const markers = sortByStep([...keep, ...winners.filter((r) => !kept.has(r.id))]);
  return { markers: markers.slice(0, maxMarkers).map(toMarker), total };
}

/** The best COMPLETED checkpoint: one walk down `checkpoints_metric_asc`/`_desc`. */
async function bestCompleted(
  db: Kysely<Database>,
  dialect: DialectName,
  trial: { id: number; smallerIsBetter: boolean },
): Promise<MarkerRow | undefined> {
  const direction = sql.raw(trial.smallerIsBetter ? 'asc' : 'desc');
  const { rows } = await sql<MarkerRow>`select ${COLUMNS} from checkpoints c
    where c.trial_id = ${trial.id} and c.state = 'STATE_COMPLETED'
      and c.searcher_metric is not null and c.steps_completed is not null
    order by c.searcher_metric ${direction}, c.steps_completed desc${nullsLast(dialect)},
      c.report_time desc, c.uuid asc
    limit 1`.execute(db);
  return rows[0];
}

/** The latest COMPLETED checkpoint: one walk down `checkpoints_latest`. */
async function latestCompleted(
  db: Kysely<Database>,
  dialect: DialectName,
  trialId: number,
): Promise<MarkerRow | undefined> {
  const { rows } = await sql<MarkerRow>`select ${COLUMNS} from checkpoints c
    where c.trial_id = ${trialId} and c.state = 'STATE_COMPLETED'
      and c.steps_completed is not null
    order by c.steps_completed desc${nullsLast(dialect)}, c.report_time desc, c.uuid asc
    limit 1`.execute(db);
  return rows[0];
}

// As the indexes are declared: PostgreSQL must be told, SQLite already puts NULL lowest.
const nullsLast = (dialect: DialectName) => (dialect === 'postgres' ? sql` nulls last` : sql``);

function sortByStep(rows: MarkerRow[]): MarkerRow[] {
  return rows.sort(
    (a, b) =>
      Number(a.steps_completed) - Number(b.steps_completed) ||
      Number(a.report_time) - Number(b.report_time) ||
      (a.uuid < b.uuid ? -1 : a.uuid > b.uuid ? 1 : 0),
  );
}

function toMarker(row: MarkerRow): CheckpointMarkerDto {
  return {
    uuid: row.uuid,
    stepsCompleted: Number(row.steps_completed),
    state: row.state as CheckpointState,
    reportTime: encodeTimestamp(new Date(Number(row.report_time))),
    size: String(row.size),
    ...(row.searcher_metric === null ? {} : { searcherMetric: encodeDouble(row.searcher_metric) }),
  };
}
