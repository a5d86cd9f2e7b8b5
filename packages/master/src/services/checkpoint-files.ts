import type { CheckpointStore } from '@determined-ts/storage';
import picomatch from 'picomatch';

import type { AppDeps } from '../context.js';
import { HttpError, badRequest } from '../errors.js';
import { storageConfigs } from './checkpoint-dto.js';
import { getRows, lockRow, setResources } from './checkpoints.js';
import { parseJsonObject } from './json.js';
import { dropIntent, recordIntents } from './deletion-intents.js';
import { refuseRegistered } from './registered-checkpoints.js';
import { deleteFromStore, openStore, storeFailure } from './storage.js';
import type { StorageRefusal } from './storage.js';

/** Checks globs as Determined does: non-empty and without `..`. */
function checkGlobs(globs: readonly string[]): void {
  for (const glob of globs) {
    if (glob === '' || glob.split('/').includes('..')) {
      throw badRequest(`invalid glob '${glob}': must be non-empty and must not contain '..'`);
    }
  }
}

/**
 * Deletes the files of the given checkpoints that match `globs` from storage and records what
 * remains. `DELETE /api/v1/checkpoints` is this with `**` (everything). Storage the master cannot
 * handle (a config it cannot read) is refused before any change. A store that fails (unreachable,
 * access denied) leaves its checkpoint as it was and makes the answer a 502, after the other
 * checkpoints were dealt with; a missing file counts as deleted.
 */
export async function removeCheckpointFiles(
  deps: AppDeps,
  uuids: readonly string[],
  globs: readonly string[],
  { wholeCheckpoint = false }: { wholeCheckpoint?: boolean } = {},
): Promise<void> {
  checkGlobs(globs);
  const rows = await getRows(deps, uuids);
  if (globs.length === 0) {
    return;
  }
  // A partial rm checks registration here; a whole-checkpoint delete records its intents below,
  // in the transaction that checks it.
  if (!wholeCheckpoint) {
    await refuseRegistered(deps.db.kysely, rows, 'deleted');
  }
  const storages = await storageConfigs(deps.db.kysely, rows);
  const stores = new Map<string, CheckpointStore>();
  for (const row of rows) {
    const refuse = ({ type, problem }: StorageRefusal): HttpError =>
      badRequest(
        `cannot delete files of checkpoint ${row.uuid}: ${problem ?? `${type} storage is not reachable from the master`}`,
      );
    stores.set(
      row.uuid,
      await openStore(deps.settings, storages.get(row.uuid) ?? {}, row.uuid, refuse),
    );
  }
  // Deleting whole checkpoints: an intent each, so a crash half-way is finished at start and a
  // registration cannot slip in between the check and the files going.
  const pending = wholeCheckpoint ? new Set(await recordIntents(deps, rows, 'delete')) : undefined;
  const matches = picomatch(globs as string[], { dot: true });
  const failures: HttpError[] = [];
  for (const row of rows) {
    const store = stores.get(row.uuid);
    if (store === undefined || row.state === 'STATE_DELETED') {
      continue;
    }
    const resources = parseJsonObject(row.resources) as Record<string, number>;
    const targets = Object.keys(resources).filter(
      (p) => matches(p) || matches(p.replace(/\/$/, '')),
    );
    let gone: Set<string>;
    try {
      gone = await deleteFromStore(store, targets, resources, { wholeCheckpoint });
    } catch (err: unknown) {
      const failure = storeFailure(err, store, `delete files of checkpoint ${row.uuid} from`);
      if (!(failure instanceof HttpError)) {
        throw failure; // a bug, not the store: nothing more is tried
      }
      failures.push(failure);
      if (pending?.has(row.id) === true) {
        await dropIntent(deps.db.kysely, row.id);
      }
      continue;
    }
    await deps.db.kysely.transaction().execute(async (trx) => {
      // A concurrent request may have changed the row since it was read: subtract from the
      // current resources, not from the ones this request started with.
      const current = await lockRow(trx, row.id);
      const left = Object.entries(parseJsonObject(current.resources) as Record<string, number>);
      await setResources(trx, current, Object.fromEntries(left.filter(([p]) => !gone.has(p))));
      if (pending?.has(row.id) === true) {
        await dropIntent(trx, row.id);
      }
    });
  }
  const [first] = failures;
  if (first !== undefined) {
    if (failures.length > 1) {
      throw new HttpError(
        first.code,
        `${first.message} (and ${failures.length - 1} more checkpoints failed)`,
        { cause: first },
      );
    }
    throw first;
  }
}
