/**
 * Keeps secrets out of log lines. The master logs errors with their causes, and a storage
 * library's error can carry a signed URL (an Azure SAS `sig=`, an S3 presigned signature), a
 * connection string's account key, or the request's headers; a bug could log a token. Every
 * field of every line goes through {@link redact} before it is written.
 */

const MASK = '[redacted]';

/** Field names whose values are secrets whatever they hold. */
const SECRET_KEY =
  /pass(word)?|token|secret|credential|authorization|cookie|access_?key|account_?key|connection_?string|signature|sas/i;

/** Secrets inside free text, each with the part to keep in group 1. */
const SECRET_TEXT: readonly RegExp[] = [
  // Our session and access tokens, and Determined's PASETO tokens.
  /()\b(?:dtsa?1\.[\w-]{20,}|v2\.public\.[\w-]{20,})/g,
  /(\bBearer\s+)[^\s"',;]+/gi,
  // Query parameters of signed URLs (S3, GCS, Azure SAS).
  /([?&](?:sig|X-Amz-Signature|X-Amz-Credential|X-Amz-Security-Token|X-Goog-Signature|X-Goog-Credential)=)[^&\s"']+/gi,
  // Azure connection strings.
  /((?:AccountKey|SharedAccessSignature)=)[^;\s"']+/gi,
  // user:password@ in URLs (a PostgreSQL URL, an S3 endpoint).
  /(\b[a-z][\w+.-]*:\/\/[^\s:/@"']*:)[^\s@/"']+(?=@)/gi,
];

/** `text` with every secret it recognises masked. */
export function redactText(text: string): string {
  let out = text;
  for (const pattern of SECRET_TEXT) {
    out = out.replace(pattern, `$1${MASK}`);
  }
  return out;
}

/** A copy of `value` safe to log: secret-named fields masked, secrets in strings masked. */
export function redact(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') {
    return redactText(value);
  }
  if (value === null || typeof value !== 'object' || depth > 8) {
    return value;
  }
  if (Array.isArray(value)) {
    return value.map((v) => redact(v, depth + 1));
  }
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    out[key] = SECRET_KEY.test(key) && v !== null && v !== undefined ? MASK : redact(v, depth + 1);
  }
  return out;
}
