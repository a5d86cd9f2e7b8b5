/**
 * Canonicalises a master address as Determined's clients do (`canonicalize_master_url`):
 * an explicit scheme (default `http`), an explicit port (8080 when no scheme was given, else
 * 80/443), no trailing `/`; credentials, query and fragment are refused.
 */
export function canonicalMasterUrl(address: string): string {
  let url = address.trim();
  let defaultPort: string;
  if (url.startsWith('https://')) {
    defaultPort = '443';
  } else if (url.startsWith('http://')) {
    defaultPort = '80';
  } else {
    url = `http://${url}`;
    defaultPort = '8080';
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new TypeError(`invalid master url ${address}: not a URL`);
  }
  if (parsed.hostname === '') {
    throw new TypeError(`invalid master url ${address}: it must name a host`);
  }
  if (
    parsed.username !== '' ||
    parsed.password !== '' ||
    parsed.search !== '' ||
    parsed.hash !== ''
  ) {
    throw new TypeError(
      `invalid master url ${address}: it must not contain credentials, a query or a fragment`,
    );
  }
  // URL drops a port equal to the scheme's default; Determined's canonical form keeps it.
  // Python reads port 0 as "no port" (`parsed.port or default_port`); so do we.
  const port = parsed.port === '' || parsed.port === '0' ? defaultPort : parsed.port;
  const path = parsed.pathname.replace(/\/+$/, '');
  return `${parsed.protocol}//${parsed.hostname}:${port}${path}`;
}

/** The master address from the argument, `DET_MASTER`, `DET_MASTER_ADDR`, then `localhost:8080`. */
export function resolveMasterUrl(
  master: string | undefined,
  env: Record<string, string | undefined>,
): string {
  const raw =
    master ?? nonEmpty(env.DET_MASTER) ?? nonEmpty(env.DET_MASTER_ADDR) ?? 'localhost:8080';
  return canonicalMasterUrl(raw);
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}
