import type { ExperimentData, TrialData } from '@determined-ts/sdk/client';

/** What the trial page hands each of its data sections (the curves, the checkpoint table). */
export interface TrialSectionProps {
  trial: TrialData;
  /** Undefined while it loads or when it could not be read; the searcher then is unknown. */
  experiment: ExperimentData | undefined;
  bestUuid: string | undefined;
  latestUuid: string | undefined;
  /** How often a running trial's data is read again; false once the trial has ended. */
  refetchInterval: number | false;
}
