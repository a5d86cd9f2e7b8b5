import type { Migration } from 'kysely';

import type { DialectName } from '../dialect.js';
import { initial } from './0001_initial.js';
import { trialSummaries } from './0002_trial_summaries.js';
import { checkpointCrc32c } from './0003_checkpoint_crc32c.js';
import { accessTokens } from './0004_access_tokens.js';
import { modelRegistry } from './0005_model_registry.js';
import { checkpointDeletions } from './0006_checkpoint_deletions.js';
import { ingestIndexes } from './0007_ingest_indexes.js';
import { checkpointStateOrder } from './0008_checkpoint_state_order.js';

/** Every migration, in order. Names are permanent once shipped. */
export function migrationsFor(dialect: DialectName): Record<string, Migration> {
  return {
    '0001_initial': initial(dialect),
    '0002_trial_summaries': trialSummaries(dialect),
    '0003_checkpoint_crc32c': checkpointCrc32c(),
    '0004_access_tokens': accessTokens(dialect),
    '0005_model_registry': modelRegistry(dialect),
    '0006_checkpoint_deletions': checkpointDeletions(dialect),
    '0007_ingest_indexes': ingestIndexes(dialect),
    '0008_checkpoint_state_order': checkpointStateOrder(dialect),
  };
}
