import { describe, expect, it } from 'vitest';

import { canonicalMasterUrl, resolveMasterUrl } from './master-url.js';

describe('canonicalMasterUrl', () => {
  it.each([
    ['localhost', 'http://localhost:8080'],
    ['det.example.com', 'http://det.example.com:8080'],
    ['det.example.com:9000', 'http://det.example.com:9000'],
    ['127.0.0.1', 'http://127.0.0.1:8080'],
    ['[::1]', 'http://[::1]:8080'],
  ])('gives a bare host %s the http scheme and port 8080', (input, canonical) => {
    expect(canonicalMasterUrl(input)).toBe(canonical);
  });

  it.each([
    ['http://det.example.com', 'http://det.example.com:80'],
    ['http://det.example.com:80', 'http://det.example.com:80'],
    ['https://det.example.com', 'https://det.example.com:443'],
    ['https://det.example.com:443', 'https://det.example.com:443'],
    ['https://det.example.com:8443', 'https://det.example.com:8443'],
  ])('makes the scheme default port of %s explicit', (input, canonical) => {
    expect(canonicalMasterUrl(input)).toBe(canonical);
  });

  it('reads port 0 as no port, as Python does', () => {
    expect(canonicalMasterUrl('http://h:0')).toBe('http://h:80');
    expect(canonicalMasterUrl('h:0')).toBe('http://h:8080');
  });

  it('keeps a path and removes trailing slashes', () => {
    expect(canonicalMasterUrl('https://h/det')).toBe('https://h:443/det');
    expect(canonicalMasterUrl('h:8080/a/b/')).toBe('http://h:8080/a/b');
    expect(canonicalMasterUrl('http://h:8080/det///')).toBe('http://h:8080/det');
    expect(canonicalMasterUrl('http://h/')).toBe('http://h:80');
  });

  it('lowercases the host', () => {
    expect(canonicalMasterUrl('https://Det.Example.COM')).toBe('https://det.example.com:443');
  });

  it('is idempotent', () => {
    for (const input of ['h', 'https://h/x/', 'h:1234/p']) {
      const once = canonicalMasterUrl(input);
      expect(canonicalMasterUrl(once)).toBe(once);
    }
  });

  it.each([
    ['user:pw@h', 'credentials'],
    ['http://user@h:8080', 'credentials'],
    ['https://h/?x=1', 'a query'],
    ['h#frag', 'a fragment'],
  ])('refuses %s (%s)', (input) => {
    expect(() => canonicalMasterUrl(input)).toThrow(/credentials, a query or a fragment/);
  });

  it('takes an empty query for no query, as urllib does', () => {
    expect(canonicalMasterUrl('h/path?')).toBe('http://h:8080/path');
  });

  it('refuses an address without a host', () => {
    expect(() => canonicalMasterUrl('http://')).toThrow(/invalid master url/);
    expect(() => canonicalMasterUrl('')).toThrow(/invalid master url/);
  });
});

describe('resolveMasterUrl', () => {
  const env = { DET_MASTER: 'from-det-master', DET_MASTER_ADDR: 'from-det-master-addr' };

  it('prefers the argument', () => {
    expect(resolveMasterUrl('arg', env)).toBe('http://arg:8080');
  });

  it('then DET_MASTER, then DET_MASTER_ADDR', () => {
    expect(resolveMasterUrl(undefined, env)).toBe('http://from-det-master:8080');
    expect(resolveMasterUrl(undefined, { DET_MASTER_ADDR: 'https://addr' })).toBe(
      'https://addr:443',
    );
  });

  it('then localhost:8080', () => {
    expect(resolveMasterUrl(undefined, {})).toBe('http://localhost:8080');
  });

  it('treats an empty variable as unset', () => {
    expect(resolveMasterUrl(undefined, { DET_MASTER: '', DET_MASTER_ADDR: 'b' })).toBe(
      'http://b:8080',
    );
  });
});
