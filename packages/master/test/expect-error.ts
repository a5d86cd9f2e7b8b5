import { ERROR_CODES } from '@determined-ts/api';
import type { ErrorBody } from '@determined-ts/api';
import { expect } from 'vitest';

/**
 * Asserts that `res` is an error response with `status`, the master's JSON error body, and a
 * message that contains `fragment`. Returns the body for further checks.
 */
export async function expectError(
  res: Response,
  status: number,
  fragment: string,
): Promise<ErrorBody> {
  const text = await res.text();
  expect(res.status, text).toBe(status);
  expect(res.headers.get('content-type') ?? '').toMatch(/^application\/json/);
  const body = JSON.parse(text) as ErrorBody;
  expect(typeof body.message).toBe('string');
  expect(body.message).toContain(fragment);
  const codes = Object.values(ERROR_CODES).filter((c) => c.status === status);
  expect(codes.length, `no error code maps to ${status}`).toBeGreaterThan(0);
  expect(body.error).toMatchObject({ error: body.message, message: body.message });
  expect(codes.map((c) => [c.grpc, c.reason])).toContainEqual([body.error.code, body.error.reason]);
  return body;
}
