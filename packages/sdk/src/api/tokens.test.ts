import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startInProcessMaster } from '../../test/master.js';
import type { MasterTarget } from '../../test/master.js';
import { createClient } from '../client.js';
import type { Client } from '../client.js';
import { ApiError, UnsupportedFeatureError } from '../errors.js';
import { createAccessToken, listAccessTokens, patchAccessToken } from './tokens.js';
import { getCurrentUser } from './users.js';

describe('access tokens through the SDK', () => {
  let master: MasterTarget;
  let client: Client;

  beforeAll(async () => {
    master = await startInProcessMaster('sqlite');
    client = await master.login();
  });

  afterAll(async () => {
    await master.close();
  });

  it('creates a scoped token that signs in, lists it, and revokes it', async () => {
    const created = await createAccessToken(client, {
      lifespan: '48h',
      description: 'model server',
      scope: 'download-only',
    });
    const asToken = client.withToken(created.token);
    expect((await getCurrentUser(asToken)).username).toBe('determined');

    const { tokens } = await listAccessTokens(client, { tokenIds: [created.tokenId] });
    expect(tokens).toEqual([
      {
        id: created.tokenId,
        userId: (await getCurrentUser(client)).id,
        description: 'model server',
        createdAt: expect.any(Date) as Date,
        expiresAt: expect.any(Date) as Date,
        revoked: false,
        scope: 'download-only',
      },
    ]);
    const [info] = tokens;
    expect((info?.expiresAt.getTime() ?? 0) - (info?.createdAt.getTime() ?? 0)).toBe(
      48 * 3600 * 1000,
    );

    // The scope holds: a download-only token cannot create tokens.
    const refused = await createAccessToken(asToken).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(ApiError);
    expect((refused as ApiError).code).toBe('permission_denied');

    const revoked = await patchAccessToken(client, created.tokenId, { revoke: true });
    expect(revoked.revoked).toBe(true);
    const after = await getCurrentUser(asToken).catch((err: unknown) => err);
    expect((after as ApiError).code).toBe('unauthenticated');
    expect((await listAccessTokens(client)).tokens.map((t) => t.id)).not.toContain(created.tokenId);
  });

  it("refuses a scope a master cannot enforce (Determined's has none), before creating anything", async () => {
    const calls: string[] = [];
    // Determined's master answers /api/v1/master without our `determinedTs` block.
    const determined = createClient({
      baseUrl: 'http://determined.test',
      token: 'v2.public.x',
      fetch: (input, init) => {
        calls.push(`${init?.method ?? 'GET'} ${new URL(input).pathname}`);
        return Promise.resolve(
          Response.json({ version: '0.38.1', masterId: 'm', clusterId: 'c', clusterName: 'd' }),
        );
      },
    });
    const err = await createAccessToken(determined, { userId: 1, scope: 'read-only' }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(UnsupportedFeatureError);
    expect((err as UnsupportedFeatureError).feature).toBe('accessTokenScopes');
    expect((err as Error).message).toContain('cannot limit an access token to read-only');
    expect(calls).toEqual(['GET /api/v1/master']);
  });
});
