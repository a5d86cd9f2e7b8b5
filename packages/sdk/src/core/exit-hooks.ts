import { inspect } from 'node:util';

/** Why the process is ending while a Core context is still open. */
export type ExitReason =
  /** An uncaught exception or unhandled rejection that nothing else handles. */
  | { kind: 'error'; error: unknown }
  /** SIGINT or SIGTERM, and nothing else listens for it. */
  | { kind: 'signal'; signal: NodeJS.Signals }
  /** The event loop ran dry: the script ended without `close()`. */
  | { kind: 'end'; exitCode: number };

export type ExitHandler = (reason: ExitReason) => Promise<void>;

const SIGNALS = ['SIGINT', 'SIGTERM'] as const;

/** How long an ending process waits for open contexts to close before it exits anyway. */
const EXIT_CLOSE_TIMEOUT_MS = 15_000;

const handlers = new Set<ExitHandler>();
let isExiting = false;

/*
 * Determined's core_v2 marks an unmanaged trial ERROR when the program dies of an exception or
 * calls sys.exit(n != 0), and closes it at interpreter exit (determined-ai/determined:
 * harness/determined/core/_heartbeat.py `_ExitHook`, core_v2 `atexit.register(close)`). Node's
 * counterparts: 'uncaughtException' (unhandled rejections arrive there too, in the default
 * `--unhandled-rejections=throw` mode), SIGINT/SIGTERM (Python's KeyboardInterrupt), and
 * 'beforeExit' (the loop ran dry). Listening changes Node's behaviour, so each listener stands in
 * for Node's default only when it is the sole listener, and then does what Node would have done
 * (print and exit 1; die of the signal) after closing the open contexts. `process.exit()` runs
 * no asynchronous code, so a context open at `process.exit()` cannot be closed.
 */

/**
 * Closes `handler`'s context when the process ends abnormally or without `close()`. Returns
 * the function that stops watching.
 */
export function watchProcessExit(handler: ExitHandler): () => void {
  if (handlers.size === 0) {
    install();
  }
  handlers.add(handler);
  return () => {
    handlers.delete(handler);
    if (handlers.size === 0 && !isExiting) {
      uninstall();
    }
  };
}

function install(): void {
  process.on('uncaughtException', onUncaught);
  process.on('beforeExit', onBeforeExit);
  for (const signal of SIGNALS) {
    process.on(signal, onSignal);
  }
}

function uninstall(): void {
  process.off('uncaughtException', onUncaught);
  process.off('beforeExit', onBeforeExit);
  for (const signal of SIGNALS) {
    process.off(signal, onSignal);
  }
}

function isOnly(listener: unknown, listeners: readonly unknown[]): boolean {
  return listeners.every((l) => l === listener);
}

function onUncaught(error: unknown): void {
  if (!isOnly(onUncaught, process.listeners('uncaughtException')) || isExiting) {
    // Another listener decides what an uncaught error means; or we are exiting already.
    return;
  }
  isExiting = true;
  // What Node prints when nobody listens; stderr is teed, so the trial's logs get it too.
  process.stderr.write(`${inspect(error)}\n\nNode.js ${process.version}\n`);
  process.exitCode = 1;
  closeAllThen({ kind: 'error', error }, () => process.exit(1));
}

function onSignal(signal: NodeJS.Signals): void {
  if (!isOnly(onSignal, process.listeners(signal))) {
    return;
  }
  if (isExiting) {
    // A second Ctrl-C: stop waiting for the close.
    raise(signal);
    return;
  }
  isExiting = true;
  closeAllThen({ kind: 'signal', signal }, () => raise(signal));
}

function onBeforeExit(code: number): void {
  if (isExiting) {
    return;
  }
  const exitCode = Number(process.exitCode ?? code);
  void closeAll({ kind: 'end', exitCode: Number.isInteger(exitCode) ? exitCode : 1 });
}

/** Dies of `signal` as if we had never listened: the exit status says what killed us. */
function raise(signal: NodeJS.Signals): void {
  handlers.clear();
  uninstall();
  process.kill(process.pid, signal);
}

async function closeAll(reason: ExitReason): Promise<void> {
  // Each handler reports its own failures; none may keep the others from closing.
  await Promise.allSettled([...handlers].map((handler) => handler(reason)));
}

function closeAllThen(reason: ExitReason, exit: () => void): void {
  // Ref'd on purpose: it keeps the process alive until the contexts are closed or time is up.
  const deadline = setTimeout(exit, EXIT_CLOSE_TIMEOUT_MS);
  void closeAll(reason).then(() => {
    clearTimeout(deadline);
    exit();
  });
}
