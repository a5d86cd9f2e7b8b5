import { parse as parseCookies } from 'hono/utils/cookie';

/** The cookie Determined's web UI and archive route read the session token from. */
export const AUTH_COOKIE = 'auth';

/** The bearer token of a request, from `Authorization: Bearer` or else the `auth` cookie. */
export function requestToken(req: {
  header(name: string): string | undefined;
}): string | undefined {
  const header = req.header('authorization');
  if (header !== undefined) {
    const match = /^Bearer\s+(\S+)$/i.exec(header.trim());
    return match?.[1];
  }
  const cookies = req.header('cookie');
  return cookies === undefined ? undefined : parseCookies(cookies, AUTH_COOKIE)[AUTH_COOKIE];
}
