import { NO_VALUE } from '../lib/format';

/** A model's labels as chips, in their stored order; a dash when there are none. */
export function Labels({ labels }: { labels: readonly string[] }) {
  if (labels.length === 0) {
    return <span className="muted">{NO_VALUE}</span>;
  }
  return (
    <span className="labels">
      {labels.map((label) => (
        <span key={label} className="label">
          {label}
        </span>
      ))}
    </span>
  );
}

/** Marks an archived model. */
export function ArchivedBadge() {
  return <span className="badge badge-archived">archived</span>;
}
