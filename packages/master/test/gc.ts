import { addTrial, call, reportCheckpoint, reportMetric, seedTrial } from './flow.js';
import type { Seeded } from './flow.js';
import type { TestMaster } from './helpers.js';

/** Reports a checkpoint at `steps` (none: no `steps_completed`) a second after the last one. */
export async function checkpointAt(
  m: TestMaster,
  s: Seeded,
  steps: number | null,
  validation?: Record<string, unknown>,
  extra: { uuid?: string; sameTime?: boolean } = {},
): Promise<string> {
  if (extra.sameTime !== true) {
    m.now.ms += 1000;
  }
  const uuid = await reportCheckpoint(
    m,
    s,
    steps ?? 0,
    extra.uuid === undefined ? {} : { uuid: extra.uuid },
  );
  if (steps === null) {
    // Reports require steps_completed; rows without one exist (older masters, replaced
    // metadata), so make one directly.
    await m.deps.db.kysely
      .updateTable('checkpoints')
      .set({ steps_completed: null, metadata: '{}' })
      .where('uuid', '=', uuid)
      .execute();
  }
  if (validation !== undefined && steps !== null) {
    await reportMetric(m, s, 'validation', steps, validation);
  }
  return uuid;
}

/**
 * Ends every trial of an experiment (COMPLETED), as a GC at the end of a run sees them: the
 * latest checkpoint of a trial still running is kept whatever the policy.
 */
export async function endTrials(m: TestMaster, experimentId: number): Promise<void> {
  await m.deps.db.kysely
    .updateTable('trials')
    .set({ state: 'STATE_COMPLETED' })
    .where('experiment_id', '=', experimentId)
    .execute();
}

/**
 * Sets a checkpoint's state directly (reports accept only COMPLETED). The per-state counters
 * are left as they were: the selection does not read them.
 */
export async function setState(m: TestMaster, uuid: string, state: string): Promise<void> {
  await m.deps.db.kysely
    .updateTable('checkpoints')
    .set({ state })
    .where('uuid', '=', uuid)
    .execute();
}

/** Registers a checkpoint as a version of a new model. */
export async function register(m: TestMaster, s: Seeded, uuid: string): Promise<void> {
  const name = `model-${uuid}`;
  await call(m, s.token, 'POST', '/api/v1/models', { name });
  await call(m, s.token, 'POST', `/api/v1/models/${name}/versions`, { checkpointUuid: uuid });
}

/** The reference's §1.5 worked example: the uuid of each checkpoint as `A@300`, `B@600`... */
export interface WorkedExample {
  a: Seeded;
  b: Seeded;
  ids: Record<string, string>;
}

/**
 * One experiment, `validation_loss`, smaller is better. Trial A: checkpoints at 100..600 with
 * losses 0.90, 0.50, 0.30, 0.45, 0.60, 0.70 and a validation of 0.05 at 350 with no checkpoint.
 * Trial B: 100..600 with 0.80, 0.40, 0.35, 0.20, 0.55 and no validation at 600.
 */
export async function workedExample(
  m: TestMaster,
  opts: { smallerIsBetter?: boolean } = {},
): Promise<WorkedExample> {
  const a = await seedTrial(m, { smallerIsBetter: opts.smallerIsBetter ?? true });
  const b = await addTrial(m, a);
  const ids: Record<string, string> = {};
  const lossesA = [0.9, 0.5, 0.3, 0.45, 0.6, 0.7];
  const lossesB = [0.8, 0.4, 0.35, 0.2, 0.55, undefined];
  for (let i = 0; i < 6; i++) {
    const steps = (i + 1) * 100;
    const la = lossesA[i];
    const lb = lossesB[i];
    ids[`A@${steps}`] = await checkpointAt(
      m,
      a,
      steps,
      la === undefined ? undefined : { validation_loss: la },
    );
    ids[`B@${steps}`] = await checkpointAt(
      m,
      b,
      steps,
      lb === undefined ? undefined : { validation_loss: lb },
    );
  }
  await reportMetric(m, a, 'validation', 350, { validation_loss: 0.05 });
  return { a, b, ids };
}

/** Names the uuids of `uuids` by the example's labels (unknown ones as themselves). */
export function labels(ex: WorkedExample, uuids: readonly string[]): string[] {
  const byUuid = new Map(Object.entries(ex.ids).map(([label, uuid]) => [uuid, label]));
  return uuids.map((u) => byUuid.get(u) ?? u);
}
