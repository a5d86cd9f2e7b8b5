/**
 * Parses a Go duration string (`72h`, `1h30m`, `1.5s`, `-2m`) into milliseconds, as Go's
 * `time.ParseDuration` reads it: Determined's clients send token lifespans in this form. No npm
 * package reads Go's grammar exactly (the popular ones add days and weeks, or skip signs and
 * fractions), and it is a dozen lines. Returns `undefined` for anything Go would refuse.
 */
export function parseGoDuration(text: string): number | undefined {
  const UNIT_MS: Record<string, number> = {
    ns: 1e-6,
    us: 1e-3,
    µs: 1e-3, // U+00B5 MICRO SIGN
    μs: 1e-3, // U+03BC GREEK SMALL LETTER MU
    ms: 1,
    s: 1000,
    m: 60_000,
    h: 3_600_000,
  };
  const match = /^([-+]?)(.*)$/su.exec(text);
  const body = match?.[2] ?? '';
  if (body === '0') {
    return 0;
  }
  if (body === '' || !/^(?:(?:\d+\.?\d*|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+$/u.test(body)) {
    return undefined;
  }
  let total = 0;
  for (const [, value, unit] of body.matchAll(/(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)/gu)) {
    total += Number(value) * (UNIT_MS[unit ?? ''] ?? Number.NaN);
  }
  return Number.isFinite(total) ? (match?.[1] === '-' ? -total : total) : undefined;
}
