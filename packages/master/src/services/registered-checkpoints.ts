import type { Kysely } from 'kysely';

import type { Database } from '../db/schema.js';
import { badRequest } from '../errors.js';

/**
 * Refuses a change to checkpoints that model versions point at, naming each registration, so
 * that no version is left pointing at files that are gone. Deleting the version (or its model)
 * frees the checkpoint. Every authenticated user may read every model here, so the model is
 * always named (Determined says "an unknown model" to users who may not read it).
 */
export async function refuseRegistered(
  db: Kysely<Database>,
  checkpoints: readonly { id: number; uuid: string }[],
  verb: 'deleted' | 'patched',
): Promise<void> {
  if (checkpoints.length === 0) {
    return;
  }
  const uuidOf = new Map(checkpoints.map((c) => [c.id, c.uuid]));
  const registered = await db
    .selectFrom('model_versions')
    .innerJoin('models', 'models.id', 'model_versions.model_id')
    .select(['model_versions.checkpoint_id', 'model_versions.version', 'models.id', 'models.name'])
    .where('model_versions.checkpoint_id', 'in', [...uuidOf.keys()])
    .orderBy('models.id')
    .orderBy('model_versions.version')
    .execute();
  if (registered.length === 0) {
    return;
  }
  const listed = registered
    .map(
      (r) =>
        `${uuidOf.get(r.checkpoint_id)}, registered to ${r.name} (model #${r.id}), version ${r.version}`,
    )
    .join('; ');
  throw badRequest(
    `this subset of checkpoints provided are in the model registry and cannot be ${verb}: ${listed}. Delete those model versions first.`,
  );
}
