import { describe, expect, it } from 'vitest';

import { redact, redactText } from './redact.js';

describe('redact', () => {
  it('masks the secrets that storage errors and requests carry', () => {
    const cases: [string, string][] = [
      [
        'GET https://acct.blob.core.windows.net/c/x?sv=2024-05-04&se=2026&sp=r&sig=abc%2Bdef%3D failed',
        'GET https://acct.blob.core.windows.net/c/x?sv=2024-05-04&se=2026&sp=r&sig=[redacted] failed',
      ],
      [
        'https://b.s3.amazonaws.com/k?X-Amz-Credential=AKIA%2F2026&X-Amz-Signature=0f0f&X-Amz-Date=1',
        'https://b.s3.amazonaws.com/k?X-Amz-Credential=[redacted]&X-Amz-Signature=[redacted]&X-Amz-Date=1',
      ],
      [
        'DefaultEndpointsProtocol=https;AccountName=a;AccountKey=c2VjcmV0;EndpointSuffix=x',
        'DefaultEndpointsProtocol=https;AccountName=a;AccountKey=[redacted];EndpointSuffix=x',
      ],
      ['Authorization: Bearer abc.def', 'Authorization: Bearer [redacted]'],
      [
        `token dtsa1.${'A'.repeat(43)} and v2.public.${'b'.repeat(40)}`,
        'token [redacted] and [redacted]',
      ],
      [
        'connect postgres://det:hunter2@db:5432/det failed',
        'connect postgres://det:[redacted]@db:5432/det failed',
      ],
      // Nothing secret: unchanged.
      ['listing s3://b/uuid/: no answer', 'listing s3://b/uuid/: no answer'],
    ];
    for (const [input, expected] of cases) {
      expect(redactText(input)).toBe(expected);
    }
  });

  it('masks fields named like secrets, at any depth', () => {
    expect(
      redact({
        username: 'alice',
        password: 'x',
        config: { secret_key: 's', access_key: 'a', bucket: 'b', nested: [{ token: 't' }] },
        headers: { Authorization: 'Bearer q', cookie: 'auth=z' },
        missing: { password: null },
      }),
    ).toEqual({
      username: 'alice',
      password: '[redacted]',
      config: {
        secret_key: '[redacted]',
        access_key: '[redacted]',
        bucket: 'b',
        nested: [{ token: '[redacted]' }],
      },
      headers: { Authorization: '[redacted]', cookie: '[redacted]' },
      missing: { password: null },
    });
  });
});
