/** Bad command-line input: `det` prints its one-line message and exits 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** Ends `det` with a chosen exit code once the command has already reported why. */
export class ExitError extends Error {
  override readonly name = 'ExitError';
  constructor(
    readonly code: number,
    message = `exit ${code}`,
  ) {
    super(message);
  }
}
