/** An experiment, trial or checkpoint state (as the API spells it), coloured by what it means. */
export function StateBadge({ state }: { state: string }) {
  const tone =
    state === 'COMPLETED'
      ? 'ok'
      : state === 'ERROR' || state === 'DELETE_FAILED'
        ? 'bad'
        : state === 'ACTIVE' || state === 'RUNNING'
          ? 'live'
          : 'muted';
  return <span className={`state state-${tone}`}>{state}</span>;
}
