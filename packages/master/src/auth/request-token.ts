import { parse as parseCookies } from 'hono/utils/cookie';

/** The cookie Determined's web UI and archive route read the session token from. */
export const AUTH_COOKIE = 'auth';

interface RequestHeaders {
  header(name: string): string | undefined;
}

/**
 * The bearer token of a request, from `Authorization: Bearer` or else the `auth` cookie, and
 * which of the two carried it: a browser adds the cookie by itself, even to a request another
 * site made it send, so cookie-borne requests get the cross-site check (`csrf.ts`).
 */
export function requestCredential(
  req: RequestHeaders,
): { token: string; via: 'header' | 'cookie' } | undefined {
  const header = req.header('authorization');
  if (header !== undefined) {
    const match = /^Bearer\s+(\S+)$/i.exec(header.trim());
    return match?.[1] === undefined ? undefined : { token: match[1], via: 'header' };
  }
  const cookies = req.header('cookie');
  const token = cookies === undefined ? undefined : parseCookies(cookies, AUTH_COOKIE)[AUTH_COOKIE];
  return token === undefined ? undefined : { token, via: 'cookie' };
}

/** The bearer token of a request, however it came. */
export function requestToken(req: RequestHeaders): string | undefined {
  return requestCredential(req)?.token;
}
