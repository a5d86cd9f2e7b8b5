/** The master's only output channel for diagnostics. */
export interface Logger {
  info(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

/** Writes one JSON line per event to stderr. */
export function createConsoleLogger(): Logger {
  const write = (level: string, message: string, fields?: Record<string, unknown>): void => {
    // eslint-disable-next-line no-console -- the logger is the one place that may print
    console.error(JSON.stringify({ time: new Date().toISOString(), level, message, ...fields }));
  };
  return {
    info: (message, fields) => write('info', message, fields),
    error: (message, fields) => write('error', message, fields),
  };
}

/** Discards everything; for tests. */
export const silentLogger: Logger = { info: () => undefined, error: () => undefined };
