import { StorageSharedKeyCredential } from '@azure/storage-blob';
import { describe, expect, it } from 'vitest';

import type { AzureAuth } from './azure-auth.js';
import { AZURE_API_VERSION, BlobReadUrls, encodeBlobName } from './azure-sas.js';

const CONTAINER_URL = 'https://acct.blob.core.windows.net/ckpts';
const KEY_AUTH: AzureAuth = {
  kind: 'key',
  credential: new StorageSharedKeyCredential('acct', Buffer.alloc(64, 3).toString('base64')),
};
const T0 = Date.parse('2030-01-01T00:00:00Z');
const MINUTE = 60_000;

function query(url: string): URLSearchParams {
  return new URL(url).searchParams;
}

describe('BlobReadUrls', () => {
  it('signs a read-only container SAS for an hour, without a start time', () => {
    const urls = new BlobReadUrls(CONTAINER_URL, 'ckpts', KEY_AUTH, () => T0);
    const url = urls.blobReadUrl('uuid/model.bin');
    expect(url.startsWith(`${CONTAINER_URL}/uuid/model.bin?`)).toBe(true);
    const q = query(url);
    expect(Object.fromEntries(q)).toMatchObject({
      sv: AZURE_API_VERSION,
      sr: 'c',
      sp: 'r',
      spr: 'https',
      se: '2030-01-01T01:00:00Z',
    });
    expect(q.has('st')).toBe(false);
    expect(q.get('sig')).toMatch(/^[A-Za-z0-9+/]+=*$/);
  });

  it('reuses its SAS until less than 5 minutes are left, then signs a fresh one', () => {
    let now = T0;
    const urls = new BlobReadUrls(CONTAINER_URL, 'ckpts', KEY_AUTH, () => now);
    const first = query(urls.blobReadUrl('a')).get('se');
    now = T0 + 55 * MINUTE - 1;
    expect(query(urls.blobReadUrl('b')).get('se')).toBe(first);
    now = T0 + 55 * MINUTE + 1;
    const renewed = query(urls.blobReadUrl('a')).get('se');
    expect(renewed).toBe('2030-01-01T01:55:00Z');
    now = T0 + 56 * MINUTE;
    expect(query(urls.blobReadUrl('a')).get('se')).toBe(renewed);
  });

  it('signs a SAS for one blob, valid until the time asked for, when given an expiry', () => {
    const urls = new BlobReadUrls(CONTAINER_URL, 'ckpts', KEY_AUTH, () => T0);
    const expiresOn = new Date(T0 + 15 * MINUTE);
    const q = query(urls.blobReadUrl('uuid/w.bin', expiresOn));
    expect(Object.fromEntries(q)).toMatchObject({
      sr: 'b',
      sp: 'r',
      se: '2030-01-01T00:15:00Z',
    });
    // Not the container SAS: that one is still signed lazily, on its first use.
    expect(query(urls.blobReadUrl('uuid/w.bin')).get('sr')).toBe('c');
  });

  it('allows plain http only for an http account (the emulator)', () => {
    const urls = new BlobReadUrls('http://127.0.0.1:10000/devstoreaccount1/c', 'c', KEY_AUTH);
    expect(query(urls.blobReadUrl('x')).get('spr')).toBe('https,http');
  });

  it("passes a user's SAS on as it is, and adds nothing for anonymous access", () => {
    const sas = 'sv=2025-01-05&sp=rl&se=2030-01-01&sig=abc%3D';
    const withSas = new BlobReadUrls(CONTAINER_URL, 'ckpts', { kind: 'sas', sas });
    expect(withSas.blobReadUrl('a/b', new Date(T0))).toBe(`${CONTAINER_URL}/a/b?${sas}`);
    const anonymous = new BlobReadUrls(CONTAINER_URL, 'ckpts', { kind: 'anonymous' });
    expect(anonymous.blobReadUrl('a/b')).toBe(`${CONTAINER_URL}/a/b`);
  });
});

describe('encodeBlobName', () => {
  it('percent-encodes each segment and keeps the slashes, directory markers included', () => {
    expect(encodeBlobName('u/a b/c#d?.bin')).toBe('u/a%20b/c%23d%3F.bin');
    expect(encodeBlobName('u/dir/')).toBe('u/dir/');
    expect(encodeBlobName('u/ü/100%')).toBe('u/%C3%BC/100%25');
  });
});
