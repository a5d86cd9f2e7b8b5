import { redact, redactText } from './redact.js';

/** The master's only output channel for diagnostics. */
export interface Logger {
  info(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

/** Writes one JSON line per event to stderr, with secrets masked (see `redact.ts`). */
export function createConsoleLogger(): Logger {
  const write = (level: string, message: string, fields?: Record<string, unknown>): void => {
    const line = { time: new Date().toISOString(), level, message: redactText(message) };
    // eslint-disable-next-line no-console -- the logger is the one place that may print
    console.error(JSON.stringify({ ...line, ...(redact(fields ?? {}) as object) }));
  };
  return {
    info: (message, fields) => write('info', message, fields),
    error: (message, fields) => write('error', message, fields),
  };
}

/** Discards everything; for tests. */
export const silentLogger: Logger = { info: () => undefined, error: () => undefined };
