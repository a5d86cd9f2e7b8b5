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
    return (await rl.question(prompt)).trim();
  } finally {
    rl.close();
  }
}
