import { spawn } from 'node:child_process';
import type { ChildProcessByStdio } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';

/*
 * Determined's CLI guards auth.json with python `filelock`, which on Unix takes flock(2)
 * (LOCK_EX) on `auth.json.lock` and never deletes that file. Node has no flock binding and the
 * SDK has no native addons, so an `O_EXCL` lock file would not exclude Python (and Python's
 * lock file, always present, would block us forever). Instead a tiny helper process takes the
 * very same flock for us: util-linux `flock(1)` where present (nearly every Linux), else `perl`
 * (macOS, the BSDs). It prints a line once it holds the lock and holds it until its stdin closes,
 * so a crashed Node process can never leave the lock held. Cost: one spawn per locked update
 * (~10 ms), which happens only when a token is stored or dropped.
 *
 * Where neither helper exists (Windows: filelock uses msvcrt.locking there, which Node cannot
 * take either), updates are serialised within this process only; callers then write through a
 * unique temp file, so the file is never torn, but a concurrent writer elsewhere can win.
 */

/** Which OS-level lock an update held. */
export type LockKind = 'flock' | 'perl' | 'none';

interface Helper {
  kind: Exclude<LockKind, 'none'>;
  command: string;
  args: (lockPath: string) => string[];
}

const HELPERS: readonly Helper[] = [
  {
    kind: 'flock',
    command: 'flock',
    // Short flags only, for busybox's flock too. `read` returns at EOF: closing our end of
    // stdin is the unlock.
    args: (lockPath) => ['-x', lockPath, 'sh', '-c', 'echo locked; read _ || :'],
  },
  {
    kind: 'perl',
    command: 'perl',
    args: (lockPath) => [
      '-MFcntl=:flock',
      '-e',
      'open(my $f, ">>", $ARGV[0]) or die "cannot open $ARGV[0]: $!\\n"; ' +
        'flock($f, LOCK_EX) or die "cannot lock $ARGV[0]: $!\\n"; ' +
        '$| = 1; print "locked\\n"; 1 while <STDIN>;',
      lockPath,
    ],
  },
];

/** The helpers still worth trying; one that is not installed is dropped for the process. */
let available: Exclude<LockKind, 'none'>[] | undefined;

/** Updates queued per lock path, so one process never races itself (nor spawns a crowd). */
const queues = new Map<string, Promise<unknown>>();

/**
 * Runs `fn` while holding an exclusive lock on `lockPath` that Determined's Python `filelock`
 * respects (flock(2)), and within this process, after earlier updates of the same path.
 * `fn` learns which lock it holds.
 */
export function withFileLock<T>(lockPath: string, fn: (kind: LockKind) => Promise<T>): Promise<T> {
  const previous = queues.get(lockPath) ?? Promise.resolve();
  const run = previous.then(
    () => underOsLock(lockPath, fn),
    () => underOsLock(lockPath, fn),
  );
  const settled = run.then(
    () => undefined,
    () => undefined,
  );
  queues.set(lockPath, settled);
  void settled.then(() => {
    if (queues.get(lockPath) === settled) {
      queues.delete(lockPath);
    }
  });
  return run;
}

async function underOsLock<T>(lockPath: string, fn: (kind: LockKind) => Promise<T>): Promise<T> {
  while (process.platform !== 'win32') {
    available ??= HELPERS.map((h) => h.kind);
    const kind = available[0];
    if (kind === undefined) {
      break;
    }
    const release = await holdLock(kind, lockPath);
    if (release === undefined) {
      // Not installed: try the next helper, now and for the rest of the process.
      available = available.filter((k) => k !== kind);
      continue;
    }
    try {
      return await fn(kind);
    } finally {
      await release();
    }
  }
  return fn('none');
}

/**
 * Takes the flock on `lockPath` through `kind`'s helper; resolves to the unlock function once
 * it is held, or to undefined when that helper is not installed.
 */
export async function holdLock(
  kind: Exclude<LockKind, 'none'>,
  lockPath: string,
): Promise<(() => Promise<void>) | undefined> {
  const helper = HELPERS.find((h) => h.kind === kind);
  if (helper === undefined) {
    throw new TypeError(`unknown lock helper ${kind}`);
  }
  const held = await acquire(helper, lockPath);
  return held === 'missing' ? undefined : () => release(held);
}

type HelperProcess = ChildProcessByStdio<Writable, Readable, Readable>;

/** Starts `helper` and resolves once it holds the lock; 'missing' when it is not installed. */
function acquire(helper: Helper, lockPath: string): Promise<HelperProcess | 'missing'> {
  return new Promise((resolve, reject) => {
    const child = spawn(helper.command, helper.args(lockPath), {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stderr = '';
    let locked = false;
    // A helper that died early makes our later stdin.end() hit EPIPE; its exit is reported by
    // 'close' (before the lock) or is harmless (after it: the lock went with it).
    child.stdin.on('error', () => undefined);
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.stdout.setEncoding('utf8').once('data', () => {
      locked = true;
      resolve(child);
    });
    child.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') {
        resolve('missing');
      } else {
        reject(new Error(`cannot lock ${lockPath} with ${helper.command}: ${err.message}`));
      }
    });
    child.once('close', (code) => {
      if (!locked) {
        reject(
          new Error(
            `cannot lock ${lockPath} with ${helper.command} (exit ${String(code)}): ${stderr.trim()}`,
          ),
        );
      }
    });
  });
}

/** Closes the helper's stdin, which unlocks, and waits for it to exit. */
function release(child: HelperProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      resolve();
      return;
    }
    child.once('close', () => resolve());
    child.stdin.end();
  });
}
