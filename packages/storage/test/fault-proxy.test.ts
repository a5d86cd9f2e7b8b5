import { GetObjectCommand } from '@aws-sdk/client-s3';
import { afterEach, describe, expect, it } from 'vitest';

import { startFakeS3 } from './fake-s3.js';
import type { FakeS3 } from './fake-s3.js';
import { startFaultProxy } from './fault-proxy.js';
import type { FaultProxy } from './fault-proxy.js';
import { testS3Client } from './s3rver.js';

let fake: FakeS3 | undefined;
let proxy: FaultProxy | undefined;

afterEach(async () => {
  await proxy?.close();
  await fake?.close();
});

describe('startFaultProxy', () => {
  it('answers its first connections with 503 SlowDown, never reaching the target', async () => {
    fake = await startFakeS3();
    fake.putObject('det-test', 'k', 'hello');
    let faults = 0;
    proxy = await startFaultProxy(fake.endpoint, {
      status503: true,
      times: 2,
      onFault: () => (faults += 1),
    });
    const s3 = testS3Client(proxy.url, { maxAttempts: 1 });
    const get = () => s3.send(new GetObjectCommand({ Bucket: 'det-test', Key: 'k' }));
    for (let i = 0; i < 2; i += 1) {
      await expect(get()).rejects.toMatchObject({
        name: 'SlowDown',
        $metadata: { httpStatusCode: 503 },
      });
    }
    expect(fake.requests).toEqual([]);
    expect(await (await get()).Body?.transformToString()).toBe('hello');
    s3.destroy();
    expect(faults).toBe(2);
    expect(fake.requests).toHaveLength(1);
    expect(proxy.exchanges.map((e) => e.status)).toEqual([503, 503, 200]);
    expect(proxy.exchanges[0]?.requestHeaders?.get('authorization')).toMatch(/^AWS4-HMAC-SHA256/);
  });

  it('closes each 503 connection, so a plain client sees the whole error and then EOF', async () => {
    fake = await startFakeS3();
    proxy = await startFaultProxy(fake.endpoint, { status503: true, times: 1 });
    const res = await fetch(`${proxy.url}/det-test/k`);
    expect(res.status).toBe(503);
    expect(res.headers.get('connection')).toBe('close');
    expect(await res.text()).toContain('<Code>SlowDown</Code>');
    expect((await fetch(`${proxy.url}/det-test/k`)).status).toBe(404); // from the fake
  });
});
