/**
 * Cross-site request forgery: a page on another site can make a signed-in browser send a
 * request to the master, and the browser adds the `auth` cookie by itself. The cookie is
 * `SameSite=Lax`, which stops that for other sites, but not for another port or subdomain of
 * the same site (`evil.example.com` is same-site with `det.example.com`, and so is any
 * `localhost` port). So a request that changes state and is authenticated by the cookie must
 * also show that it came from the master's own origin, which browsers say in `Sec-Fetch-Site`
 * (and `Origin`) and which a page cannot forge. Clients other than browsers send
 * `Authorization: Bearer` and are not affected.
 */

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

interface RequestLike {
  method: string;
  header(name: string): string | undefined;
}

/**
 * Why a cookie-authenticated request must be refused as cross-site, or `undefined` when it
 * may proceed. `required`: whether a request with neither header is refused (yes for
 * cookie-authenticated requests; a login, which non-browser clients send too, is checked only
 * when a browser says where it came from).
 */
export function crossSiteRefusal(req: RequestLike, required: boolean): string | undefined {
  if (SAFE_METHODS.has(req.method)) {
    return undefined;
  }
  const site = req.header('sec-fetch-site');
  if (site !== undefined) {
    return site === 'same-origin' || site === 'none'
      ? undefined
      : `refused a ${site} ${req.method} request: state-changing requests must come from the master's own pages`;
  }
  const origin = req.header('origin');
  if (origin !== undefined) {
    return sameHost(origin, req.header('host'))
      ? undefined
      : `refused a ${req.method} request from origin ${origin}: state-changing requests must come from the master's own pages`;
  }
  return required
    ? `refused a ${req.method} request authenticated by the auth cookie without Origin or Sec-Fetch-Site: send the token as Authorization: Bearer`
    : undefined;
}

function sameHost(origin: string, host: string | undefined): boolean {
  if (host === undefined) {
    return false;
  }
  try {
    return new URL(origin).host === host.toLowerCase();
  } catch {
    // `Origin: null` (a sandboxed frame, a file) and garbage are never ours.
    return false;
  }
}
