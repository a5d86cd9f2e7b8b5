import { randomBytes } from 'node:crypto';

import { clientHashPassword } from '@determined-ts/api';
import { afterEach, describe, expect, it } from 'vitest';

import { spawnMaster } from '../test/child-master.js';
import { tempDir } from '../test/helpers.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) {
    await cleanup();
  }
});

/** A secret that is easy to find in a log: a marker and random letters. */
const secret = (what: string): string => `${what}-${randomBytes(12).toString('hex')}`;

describe('the logs of a full run', () => {
  it('hold no password, token or storage secret', async () => {
    const dir = await tempDir();
    cleanups.push(dir.cleanup);
    const secrets = {
      password: secret('pw'),
      wrongPassword: secret('wrongpw'),
      s3Key: secret('s3key'),
      s3Secret: secret('s3secret'),
      azureKey: Buffer.from(secret('azkey')).toString('base64'),
    };
    const azureEnv = `DefaultEndpointsProtocol=http;AccountName=acct;AccountKey=${secrets.azureKey};BlobEndpoint=http://127.0.0.1:1/acct`;
    const master = await spawnMaster(['--port', '0', '--data-dir', dir.path], {
      env: { AZURE_STORAGE_CONNECTION_STRING: azureEnv },
    });
    cleanups.push(async () => {
      master.child.kill('SIGKILL');
      await master.exited;
    });
    const tokens: string[] = [];
    const api = async (
      method: string,
      path: string,
      { token, body }: { token?: string; body?: unknown } = {},
    ): Promise<{ status: number; json: Record<string, unknown> }> => {
      const res = await fetch(`${master.url}${path}`, {
        method,
        headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await res.text();
      const json = text.startsWith('{') ? (JSON.parse(text) as Record<string, unknown>) : {};
      return { status: res.status, json };
    };
    const login = async (username: string, password: string): Promise<string> => {
      const res = await api('POST', '/api/v1/auth/login', { body: { username, password } });
      expect(res.status).toBe(200);
      const token = String(res.json.token);
      tokens.push(token);
      return token;
    };

    const admin = await login('admin', '');
    const created = await api('POST', '/api/v1/users', {
      token: admin,
      body: { user: { username: 'alice', admin: true }, password: secrets.password },
    });
    expect(created.status).toBe(200);
    const alice = await login('alice', secrets.password);
    // Failed logins are logged (who, from where), then throttled.
    for (let i = 0; i < 7; i++) {
      const res = await api('POST', '/api/v1/auth/login', {
        body: { username: 'alice', password: secrets.wrongPassword },
      });
      expect([401, 429]).toContain(res.status);
    }
    const aliceId = (await api('GET', '/api/v1/me', { token: alice })).json.user as { id: number };
    const minted = await api('POST', '/api/v1/tokens', {
      token: alice,
      body: { userId: aliceId.id, description: 'ci' },
    });
    const accessToken = String(minted.json.token);
    tokens.push(accessToken);
    expect((await api('GET', '/api/v1/me', { token: accessToken })).status).toBe(200);
    await api('PATCH', `/api/v1/tokens/${String(minted.json.tokenId)}`, {
      token: alice,
      body: { setRevoked: true },
    });
    expect((await api('GET', '/api/v1/me', { token: accessToken })).status).toBe(401);

    // Checkpoints in stores the master cannot reach, with credentials in the experiment's
    // config and in the master's environment: every download fails, and each failure is logged.
    const storages = [
      `{type: s3, bucket: b, access_key: ${secrets.s3Key}, secret_key: ${secrets.s3Secret}, endpoint_url: 'http://127.0.0.1:1'}`,
      '{type: azure, container: c}',
    ];
    for (const [i, storage] of storages.entries()) {
      const experiment = await api('POST', '/api/v1/experiments', {
        token: alice,
        body: {
          config: `{name: leak-${i}, searcher: {name: single, metric: loss}, checkpoint_storage: ${storage}}`,
          unmanaged: true,
        },
      });
      const experimentId = (experiment.json.experiment as { id: number }).id;
      const trial = await api('POST', '/api/v1/trials', {
        token: alice,
        body: { experimentId, hparams: {}, unmanaged: true },
      });
      const { id: trialId, taskId } = trial.json.trial as { id: number; taskId: string };
      await api('POST', `/api/v1/trials/${trialId}/start`, { token: alice, body: { trialId } });
      const uuid = `00000000-0000-4000-8000-00000000000${i}`;
      const reported = await api('POST', '/api/v1/checkpoints', {
        token: alice,
        body: {
          uuid,
          taskId,
          reportTime: new Date().toISOString(),
          state: 'STATE_COMPLETED',
          resources: { 'model.bin': '10' },
          metadata: { steps_completed: 1 },
        },
      });
      expect(reported.status).toBe(200);
      expect((await api('GET', `/checkpoints/${uuid}`, { token: alice })).status).toBe(502);
      // Signed URLs go to the client, never to the log.
      await api('GET', `/api/v1/checkpoints/${uuid}/download-urls`, { token: alice });
    }
    master.child.kill('SIGTERM');
    await master.exited;
    const logs = `${master.stdout()}${master.stderr()}`;

    // The run did log: failed logins and the store failures with their causes.
    expect(logs).toContain('"message":"login failed"');
    expect(logs.match(/"message":"upstream failure"/g)?.length ?? 0).toBeGreaterThanOrEqual(2);
    const forbidden = [
      ...Object.values(secrets),
      await clientHashPassword(secrets.password),
      await clientHashPassword(secrets.wrongPassword),
      ...tokens,
    ];
    for (const value of forbidden) {
      expect(logs.includes(value), `a secret is in the log:\n${logs}`).toBe(false);
    }
    // Nor any signature of a signed URL.
    expect(logs).not.toMatch(/(sig|X-Amz-Signature|X-Goog-Signature)=(?!\[redacted\])/i);
  }, 60_000);
});
