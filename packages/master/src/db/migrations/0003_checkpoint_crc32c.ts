import { sql } from 'kysely';
import type { Kysely, Migration } from 'kysely';

/**
 * Our CRC32C extension beside the sha256 `digests`: per file, the CRC32C (Castagnoli) the
 * reporter computed, as JSON `{path: "<8 hex>"}`, or NULL. Existing checkpoints have none.
 */
export function checkpointCrc32c(): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await sql`alter table checkpoints add column crc32c text`.execute(db);
    },
  };
}
