import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startInProcessMaster, testDialects } from '../../test/master.js';
import type { MasterTarget } from '../../test/master.js';
import { createClient } from '../client.js';
import type { Client } from '../client.js';
import { ApiError, ArgumentError } from '../errors.js';
import { reconcileStorage } from './storage.js';

const ORPHAN = 'abcdef00-1234-4000-8000-00000000beef';

for (const dialect of testDialects()) {
  describe(`reconcileStorage [${dialect}]`, () => {
    let master: MasterTarget;
    let admin: Client;

    beforeAll(async () => {
      master = await startInProcessMaster(dialect);
      const anonymous = createClient({ baseUrl: master.baseUrl, fetch: master.fetch });
      const { token } = await anonymous.request<{ token: string }>('POST', '/api/v1/auth/login', {
        body: { username: 'admin', password: '' },
      });
      admin = anonymous.withToken(token);
      await mkdir(join(master.storageDir, ORPHAN));
      await writeFile(join(master.storageDir, ORPHAN, 'x.bin'), Buffer.alloc(9));
    });

    afterAll(async () => {
      await master.close();
    });

    it('lists orphans on a dry run, then deletes them with apply', async () => {
      const dry = await reconcileStorage(admin, { graceSeconds: 0 });
      expect(dry.orphans.map((o) => [o.uuid, o.bytes])).toEqual([[ORPHAN, 9]]);
      expect(dry.applied).toBeNull();
      const applied = await reconcileStorage(admin, { graceSeconds: 0, apply: true });
      expect(applied.applied).toEqual({ orphansDeleted: 1, bytesFreed: 9, checkpointsUpdated: 0 });
      expect(applied.storageErrors).toEqual([]);
    });

    it('is refused to users who are not admins', async () => {
      const err = await reconcileStorage(await master.login(), {}).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ApiError);
      expect((err as ApiError).status).toBe(403);
    });

    it('refuses a negative grace period without a request', async () => {
      await expect(reconcileStorage(admin, { graceSeconds: -1 })).rejects.toBeInstanceOf(
        ArgumentError,
      );
    });
  });
}
