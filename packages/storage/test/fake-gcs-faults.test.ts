import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

import { crc32cBase64, differingOffsets, patternBytes } from './digests.js';
import { startFakeGcs } from './fake-gcs.js';
import type { FakeGcs } from './fake-gcs.js';
import { rawGet, rawRequest } from './raw-http.js';

const BUCKET = 'det-test';
const media = (name: string): string =>
  `/storage/v1/b/${BUCKET}/o/${encodeURIComponent(name)}?alt=media`;

describe('startFakeGcs faults', () => {
  let fake: FakeGcs;
  const body = patternBytes(64 * 1024);

  beforeEach(async () => {
    fake = await startFakeGcs();
  });

  afterEach(async () => {
    await fake.close();
  });

  it('answers matching requests with an error in the API’s form, then serves normally', async () => {
    fake.putObject(BUCKET, 'k', body);
    fake.inject({
      kind: 'status',
      status: 503,
      times: 1,
      match: (r) => r.query.get('alt') === 'media',
    });
    fake.inject({ kind: 'status', status: 429, times: 1, match: (r) => r.api === 'xml' });
    const json = await fetch(`${fake.endpoint}/storage/v1/b/${BUCKET}/o/k`); // does not match
    expect(json.status).toBe(200);
    const throttled = await fetch(`${fake.endpoint}${media('k')}`);
    expect(throttled.status).toBe(503);
    expect(await throttled.json()).toMatchObject({
      error: { code: 503, errors: [{ reason: 'backendError' }] },
    });
    const xml = await fetch(`${fake.endpoint}/${BUCKET}/k?uploads`, { method: 'POST' });
    expect(xml.status).toBe(429);
    expect(await xml.text()).toContain('<Code>rateLimitExceeded</Code>');
    expect(fake.pendingFaults()).toBe(0);
    expect((await fetch(`${fake.endpoint}${media('k')}`)).status).toBe(200);
  });

  it('resets the connection after the given body bytes', async () => {
    fake.putObject(BUCKET, 'k', body);
    fake.inject({ kind: 'reset-after', bytes: 1000, times: 1 });
    const exchange = rawGet(fake.endpoint, media('k'));
    expect(await exchange.ending).toBe('reset');
    const { head, body: received } = exchange.received();
    expect(head).toMatch(/^HTTP\/1\.1 200 /);
    expect(head).toContain(`content-length: ${body.length}`);
    expect(received).toEqual(body.subarray(0, 1000));
  });

  it('ends the connection cleanly short of Content-Length', async () => {
    fake.putObject(BUCKET, 'k', body);
    fake.inject({ kind: 'end-after', bytes: 1000, times: 1 });
    const exchange = rawGet(fake.endpoint, media('k'));
    expect(await exchange.ending).toBe('end');
    expect(exchange.received().body).toEqual(body.subarray(0, 1000));
  });

  it('stalls after the given body bytes and holds the socket until close()', async () => {
    fake.putObject(BUCKET, 'k', body);
    fake.inject({ kind: 'stall-after', bytes: 1000, times: 1 });
    const exchange = rawGet(fake.endpoint, media('k'));
    await vi.waitFor(() => expect(exchange.received().body.length).toBe(1000));
    await fake.close();
    await exchange.ending; // nothing more came before close() cut it
    expect(exchange.received().body).toEqual(body.subarray(0, 1000));
    fake = await startFakeGcs(); // for afterEach
  });

  it('flips one response byte, leaving the stored object intact', async () => {
    fake.putObject(BUCKET, 'k', body);
    fake.inject({ kind: 'flip', at: 5, times: 1 });
    const get = async (): Promise<Buffer> =>
      Buffer.from(await (await fetch(`${fake.endpoint}${media('k')}`)).arrayBuffer());
    expect(differingOffsets(await get(), body)).toEqual([5]);
    expect(differingOffsets(await get(), body)).toEqual([]);
  });

  it('flips one request byte, so a part with its CRC32C is refused', async () => {
    const started = await fetch(`${fake.endpoint}/${BUCKET}/k?uploads`, { method: 'POST' });
    const uploadId = /<UploadId>([^<]+)</.exec(await started.text())?.[1] ?? '';
    fake.inject({ kind: 'flip', at: 0, target: 'request', times: 1 });
    const res = await fetch(`${fake.endpoint}/${BUCKET}/k?partNumber=1&uploadId=${uploadId}`, {
      method: 'PUT',
      body,
      headers: { 'x-goog-hash': `crc32c=${crc32cBase64(body)}` },
    });
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('<Code>BadDigest</Code>');
  });

  it('runs a hook before answering, e.g. to replace the object mid-download', async () => {
    const { generation } = fake.putObject(BUCKET, 'k', body);
    fake.inject({
      kind: 'hook',
      times: 1,
      match: (r) => r.headers.range === 'bytes=1024-2047',
      run: () => void fake.putObject(BUCKET, 'k', patternBytes(body.length, 9)),
    });
    const ranged = (range: string): Promise<Response> =>
      fetch(`${fake.endpoint}${media('k')}&generation=${generation}`, { headers: { range } });
    expect((await ranged('bytes=0-1023')).status).toBe(206);
    expect((await ranged('bytes=1024-2047')).status).toBe(404);
  });

  it('drops a request on arrival, so nothing is done', async () => {
    fake.putObject(BUCKET, 'k', body);
    fake.inject({ kind: 'drop-request', times: 1 });
    const del = rawRequest(
      fake.endpoint,
      `DELETE /storage/v1/b/${BUCKET}/o/k HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`,
    );
    expect(await del.ending).toBe('reset');
    expect(fake.names(BUCKET)).toEqual(['k']);
    expect(fake.requests).toHaveLength(1);
  });
});
