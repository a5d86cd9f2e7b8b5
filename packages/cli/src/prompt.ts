import { UsageError } from './errors.js';
import type { CliIo } from './io.js';

/** Whether `det` may ask the person at the terminal. */
export function canPrompt(io: CliIo): boolean {
  return io.stdin?.isTTY === true && typeof io.stdin.setRawMode === 'function';
}

/** Reads one line from the terminal without echoing it; the prompt goes to stderr. */
export async function promptSecret(io: CliIo, prompt: string): Promise<string> {
  const stdin = io.stdin;
  if (stdin === undefined || !canPrompt(io)) {
    throw new UsageError(`cannot ask for ${prompt.replace(/:\s*$/, '')}: stdin is not a terminal`);
  }
  io.stderr.write(prompt);
  stdin.setRawMode?.(true);
  stdin.resume();
  try {
    return await new Promise<string>((resolve, reject) => {
      let line = '';
      const onData = (chunk: Buffer | string): void => {
        for (const ch of chunk.toString()) {
          if (ch === '\r' || ch === '\n' || ch === '\u0004') {
            stdin.off('data', onData);
            resolve(line);
            return;
          }
          if (ch === '\u0003') {
            stdin.off('data', onData);
            reject(new Error('interrupted'));
            return;
          }
          line = ch === '\u007f' || ch === '\b' ? line.slice(0, -1) : line + ch;
        }
      };
      stdin.on('data', onData);
    });
  } finally {
    stdin.setRawMode?.(false);
    stdin.pause();
    io.stderr.write('\n');
  }
}

/** Reads one visible line from the terminal, for a user name. */
export async function promptLine(io: CliIo, prompt: string): Promise<string> {
  const stdin = io.stdin;
  if (stdin === undefined || stdin.isTTY !== true) {
    throw new UsageError(`cannot ask for ${prompt.replace(/:\s*$/, '')}: stdin is not a terminal`);
  }
  const { createInterface } = await import('node:readline/promises');
  const rl = createInterface({ input: stdin, output: io.stderr });
  try {
    // Ctrl-C aborts `io.signal` (bin.ts catches SIGINT): the wait for the line ends with it.
    const answer =
      io.signal === undefined
        ? await rl.question(prompt)
        : await rl.question(prompt, { signal: io.signal });
    return answer.trim();
  } finally {
    rl.close();
  }
}

/**
 * Asks until the answer is y, yes, n or no (any case), as Determined's CLI does; the end of input
 * means no. Lines typed ahead are kept, so `y` may already be waiting.
 */
export async function askYesNo(io: CliIo, prompt: string): Promise<boolean> {
  const stdin = io.stdin;
  if (stdin === undefined) {
    return false;
  }
  const { createInterface } = await import('node:readline');
  const rl = createInterface({ input: stdin, terminal: false });
  const lines = rl[Symbol.asyncIterator]();
  // Ctrl-C aborts `io.signal` (bin.ts catches SIGINT), which must end the wait for a line too.
  const aborted = new Promise<never>((_, reject) => {
    const onAbort = (): void => reject(new Error('interrupted'));
    if (io.signal?.aborted === true) {
      onAbort();
    }
    io.signal?.addEventListener('abort', onAbort, { once: true });
  });
  aborted.catch(() => {
    // Observed by the race below; this keeps an abort after the answer from going unhandled.
  });
  try {
    for (;;) {
      io.stderr.write(prompt);
      const next = await Promise.race([lines.next(), aborted]);
      if (next.done === true) {
        io.stderr.write('\n');
        return false;
      }
      const answer = String(next.value).trim().toLowerCase();
      if (answer === 'y' || answer === 'yes') {
        return true;
      }
      if (answer === 'n' || answer === 'no') {
        return false;
      }
      io.stderr.write("Please respond with 'y' or 'n'\n");
    }
  } finally {
    rl.close();
  }
}
