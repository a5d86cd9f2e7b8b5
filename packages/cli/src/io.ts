import type { FetchLike } from '@determined-ts/sdk';

/** A writable stream the CLI prints to; `isTTY` decides whether progress bars are drawn. */
export type CliStream = NodeJS.WritableStream & { isTTY?: boolean };

/** Everything `det` touches in the world, injected so tests run it in-process. */
export interface CliIo {
  stdout: CliStream;
  stderr: CliStream;
  env: NodeJS.ProcessEnv;
  /** Replaces global fetch for every master request (tests pass an in-process master's fetch). */
  fetch?: FetchLike;
  /** Relative paths (`-o DIR`, `--data-dir`) resolve against this. */
  cwd: string;
  signal?: AbortSignal;
  /** Standard input; passwords are prompted for only when it is a TTY. */
  stdin?: NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (raw: boolean) => unknown };
}
