import { describe, expect, it } from 'vitest';

import { TrustedProxies } from './trusted-proxies.js';

describe('TrustedProxies', () => {
  const proxies = new TrustedProxies(['10.0.0.0/8', '192.0.2.1', '::1', '2001:db8::/32']);

  it('knows addresses and ranges, IPv4-mapped IPv6 included', () => {
    expect(proxies.has('10.1.2.3')).toBe(true);
    expect(proxies.has('::ffff:10.1.2.3')).toBe(true);
    expect(proxies.has('192.0.2.1')).toBe(true);
    expect(proxies.has('192.0.2.2')).toBe(false);
    expect(proxies.has('2001:db8::5')).toBe(true);
    expect(proxies.has('::1')).toBe(true);
    expect(proxies.has('not an address')).toBe(false);
  });

  it('takes the nearest untrusted hop of X-Forwarded-For, only from a trusted peer', () => {
    expect(proxies.clientOf('203.0.113.9', '1.2.3.4')).toBe('203.0.113.9');
    expect(proxies.clientOf('10.0.0.1', undefined)).toBe('10.0.0.1');
    expect(proxies.clientOf('10.0.0.1', '203.0.113.9')).toBe('203.0.113.9');
    // A chain of proxies: the first address from the right that is not one of them.
    expect(proxies.clientOf('10.0.0.1', '1.1.1.1, 203.0.113.9, 10.0.0.2')).toBe('203.0.113.9');
    // A malformed hop ends the walk at the last good one.
    expect(proxies.clientOf('10.0.0.1', 'evil, 10.0.0.2')).toBe('10.0.0.2');
    // Every hop a proxy: the leftmost is the best there is.
    expect(proxies.clientOf('10.0.0.1', '10.0.0.3, 10.0.0.2')).toBe('10.0.0.3');
  });

  it('refuses what is neither an address nor a range, naming it', () => {
    for (const bad of ['10.0.0.0/33', 'example.com', '10.0.0.1/8/2', '::1/129', '10.0.0.0/x']) {
      expect(() => new TrustedProxies([bad]), bad).toThrow(`'${bad}'`);
    }
  });
});
