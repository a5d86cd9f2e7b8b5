/** One media range of an `Accept` header. */
interface MediaRange {
  type: string;
  subtype: string;
  q: number;
  /** Position in the header, for ties. */
  index: number;
}

/**
 * Parses an `Accept` header (RFC 9110 §12.5.1) into media ranges, lowercased. Parameters other
 * than `q` are ignored; a part that is not `type/subtype`, or whose `q` is not a number in
 * [0, 1], is skipped.
 */
export function parseAccept(header: string): MediaRange[] {
  const out: MediaRange[] = [];
  header.split(',').forEach((part, index) => {
    const [range = '', ...params] = part.split(';').map((s) => s.trim().toLowerCase());
    const match = /^([a-z0-9!#$&^_.+-]+|\*)\/([a-z0-9!#$&^_.+-]+|\*)$/.exec(range);
    if (match === null || (match[1] === '*' && match[2] !== '*')) {
      return;
    }
    let q = 1;
    for (const param of params) {
      const [name, value = ''] = param.split('=').map((s) => s.trim());
      if (name === 'q') {
        q = /^(0(\.\d{0,3})?|1(\.0{0,3})?)$/.test(value) ? Number(value) : NaN;
      }
    }
    if (!Number.isNaN(q)) {
      out.push({ type: match[1] ?? '', subtype: match[2] ?? '', q, index });
    }
  });
  return out;
}

/**
 * The q-value `ranges` give `mediaType`, from the most specific range that matches it
 * (`type/subtype`, then `type/*`, then `*\/*`), with that range's specificity and position;
 * `undefined` when none matches.
 */
function quality(
  ranges: readonly MediaRange[],
  mediaType: string,
): { q: number; specificity: number; index: number } | undefined {
  const [type, subtype] = mediaType.split('/');
  let best: { q: number; specificity: number; index: number } | undefined;
  for (const r of ranges) {
    const specificity =
      r.type === type && r.subtype === subtype
        ? 2
        : r.type === type && r.subtype === '*'
          ? 1
          : r.type === '*'
            ? 0
            : -1;
    if (specificity >= 0 && (best === undefined || specificity > best.specificity)) {
      best = { q: r.q, specificity, index: r.index };
    }
  }
  return best;
}

/**
 * Picks what to send for an `Accept` header among `offers` (in our order of preference): the
 * offer with the highest q-value, then the one matched by the more specific range, then the one
 * named earlier in the header, then the earlier offer. `q=0` excludes an offer. A missing or
 * empty header accepts anything (the first offer). `undefined` when nothing is acceptable.
 */
export function negotiate<T extends string>(
  header: string | undefined,
  offers: readonly T[],
): T | undefined {
  if (header === undefined || header.trim() === '') {
    return offers[0];
  }
  const ranges = parseAccept(header);
  let chosen: { offer: T; q: number; specificity: number; index: number } | undefined;
  for (const offer of offers) {
    const found = quality(ranges, offer);
    if (found === undefined || found.q === 0) {
      continue;
    }
    if (
      chosen === undefined ||
      found.q > chosen.q ||
      (found.q === chosen.q &&
        (found.specificity > chosen.specificity ||
          (found.specificity === chosen.specificity && found.index < chosen.index)))
    ) {
      chosen = { offer, ...found };
    }
  }
  return chosen?.offer;
}

/** True when the header explicitly accepts `mediaType` (not merely through a wildcard). */
export function acceptsExplicitly(header: string | undefined, mediaType: string): boolean {
  const found = quality(parseAccept(header ?? ''), mediaType);
  return found !== undefined && found.specificity === 2 && found.q > 0;
}
