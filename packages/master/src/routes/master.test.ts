import { CHECKPOINT_ORDERING_RULES } from '@determined-ts/api';
import { expect, it } from 'vitest';

import { createApp } from '../app.js';
import { describeEachDialect, testDb } from '../../test/helpers.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describeEachDialect('master info routes', ({ master }) => {
  it('serves GET /api/v1/master without auth, with the fields the Python SDK requires', async () => {
    const m = master();
    const res = await m.request('GET', '/api/v1/master');
    expect(res.status).toBe(200);
    const info = (await res.json()) as Record<string, unknown>;
    expect(info).toMatchObject({
      clusterName: 'test',
      hasCustomLogo: false,
      masterId: 'master-test',
      strictJobQueueControl: false,
      version: 'test',
      determinedTs: {
        checkpointOrdering: CHECKPOINT_ORDERING_RULES,
        checkpointDigests: true,
        checkpointDownloadUrls: true,
        accessTokenScopes: true,
      },
    });
    expect(info.clusterId).toMatch(UUID);
    expect(info.determinedTs).toMatchObject({ checkpointOrdering: 'determined-ts/1' });
  });

  it('serves GET /info in snake_case without auth', async () => {
    const m = master();
    const res = await m.request('GET', '/info');
    expect(res.status).toBe(200);
    const info = (await res.json()) as Record<string, unknown>;
    expect(info).toMatchObject({
      version: 'test',
      master_id: 'master-test',
      cluster_name: 'test',
      telemetry: { enabled: false },
      sso_providers: [],
    });
    expect(info).not.toHaveProperty('masterId');
    const { clusterId } = (await (await m.request('GET', '/api/v1/master')).json()) as {
      clusterId: string;
    };
    expect(info.cluster_id).toBe(clusterId);
  });

  it('reports the same cluster id from every replica on one database', async () => {
    const m = master();
    const other = createApp({
      ...m.deps,
      settings: { ...m.deps.settings, masterId: 'master-two' },
    });
    const a = (await (await m.request('GET', '/api/v1/master')).json()) as Record<string, unknown>;
    const b = (await (await other.request('/api/v1/master')).json()) as Record<string, unknown>;
    expect(b.masterId).toBe('master-two');
    expect(a.masterId).toBe('master-test');
    expect(b.clusterId).toBe(a.clusterId);
    const again = (await (await m.request('GET', '/api/v1/master')).json()) as {
      clusterId: string;
    };
    expect(again.clusterId).toBe(a.clusterId);
    // A different database is a different cluster.
    const db = await testDb(m.dialect);
    try {
      const third = createApp({ ...m.deps, db });
      const c = (await (await third.request('/api/v1/master')).json()) as { clusterId: string };
      expect(c.clusterId).toMatch(UUID);
      expect(c.clusterId).not.toBe(a.clusterId);
    } finally {
      await db.close();
    }
  });
});
