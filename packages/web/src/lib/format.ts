// Display formatting. Fixed to en-US so numbers read the same for everyone ("1–20 of 10,000").
const LOCALE = 'en-US';

const COUNT = new Intl.NumberFormat(LOCALE, { maximumFractionDigits: 0 });
const METRIC = new Intl.NumberFormat(LOCALE, { maximumSignificantDigits: 5 });

/** What a missing value shows as. */
export const NO_VALUE = '—';

/** A whole number with thousands separators: `10,000`. */
export function formatCount(n: number): string {
  return COUNT.format(n);
}

const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/** Bytes in the largest binary unit that keeps the number at or above 1 (as the CLI prints them). */
export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < BYTE_UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${BYTE_UNITS[unit]}`;
}

/** A metric value: five significant digits, exponents for the very small and very large. */
export function formatMetric(value: unknown): string {
  if (typeof value !== 'number') {
    return value === undefined || value === null ? NO_VALUE : JSON.stringify(value);
  }
  if (Number.isNaN(value)) {
    return 'NaN';
  }
  if (!Number.isFinite(value)) {
    return value > 0 ? '∞' : '-∞';
  }
  const abs = Math.abs(value);
  if (abs !== 0 && (abs < 1e-4 || abs >= 1e9)) {
    return value.toExponential(3);
  }
  return METRIC.format(value);
}

const pad = (n: number): string => String(n).padStart(2, '0');

/** Local date and time, `2025-01-31 14:05:09`. */
export function formatDateTime(date: Date | undefined): string {
  if (date === undefined) {
    return NO_VALUE;
  }
  const day = `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
  return `${day} ${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

/** A duration in its two largest units: `2h 5m`, `3m 0s`, `12s`. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  const d = Math.floor(s / 86_400);
  const h = Math.floor((s % 86_400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d > 0) {
    return `${d}d ${h}h`;
  }
  if (h > 0) {
    return `${h}h ${m}m`;
  }
  return m > 0 ? `${m}m ${s % 60}s` : `${s}s`;
}

/** The pager's text: `1–20 of 10,000`, or `0 of 0` for an empty page. */
export function formatRange(offset: number, rows: number, total: number): string {
  if (rows === 0) {
    return `0 of ${formatCount(total)}`;
  }
  return `${formatCount(offset + 1)}–${formatCount(offset + rows)} of ${formatCount(total)}`;
}

/** Total bytes of a checkpoint's files (directories are listed with size 0). */
export function totalBytes(resources: Record<string, number>): number {
  return Object.values(resources).reduce((sum, size) => sum + size, 0);
}

/** A trial's hyperparameters on one line: `lr=0.01, batch_size=32`. */
export function formatHparams(hparams: Record<string, unknown>): string {
  return Object.entries(hparams)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(', ');
}
