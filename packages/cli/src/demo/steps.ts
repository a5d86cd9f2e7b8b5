import { inspect } from 'node:util';

import type { CliStream } from '../io.js';

/** A failed tour step: its message names the step and the cause, ready to print as one line. */
export class DemoStepError extends Error {
  override readonly name = 'DemoStepError';
  constructor(
    readonly step: string,
    cause: unknown,
  ) {
    super(`step ${step} failed: ${describeCause(cause)}`, { cause });
  }
}

/** The message of an error and of the errors it wraps, so "fetch failed" shows why. */
function describeCause(cause: unknown): string {
  const parts: string[] = [];
  let current: unknown = cause;
  while (current !== undefined && parts.length < 4) {
    const message = current instanceof Error ? current.message : inspect(current);
    if (message !== '' && !parts.some((part) => part.includes(message))) {
      parts.push(message);
    }
    current = current instanceof Error ? current.cause : undefined;
  }
  return parts.join(': ');
}

/** Numbers the tour's steps and prints their lines; detail lines are indented under them. */
export class StepPrinter {
  readonly #out: CliStream;
  readonly #total: number;
  #current = 0;
  #label = '';

  constructor(out: CliStream, total: number) {
    this.#out = out;
    this.#total = total;
  }

  /** Runs `fn` as the next step; a failure becomes a {@link DemoStepError} naming it. */
  async run<T>(name: string, fn: () => Promise<T>): Promise<T> {
    this.#current += 1;
    this.#label = `[${this.#current}/${this.#total}] ${name}`;
    try {
      return await fn();
    } catch (err: unknown) {
      throw err instanceof DemoStepError ? err : new DemoStepError(this.#label, err);
    }
  }

  /** The one line that says what the current step did. */
  line(text: string): void {
    this.#out.write(`${this.#label}: ${text}\n`);
  }

  /** A line under the current step. */
  detail(text: string): void {
    this.#out.write(`      ${text}\n`);
  }
}
