import { InvalidArgumentError } from 'commander';

/** Parses a positive integer argument; commander reports a bad one as a usage error. */
export function positiveInt(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n <= 0) {
    throw new InvalidArgumentError(`expected a positive integer, got '${value}'`);
  }
  return n;
}

/** Parses a non-negative integer argument (an offset). */
export function nonNegativeInt(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n)) {
    throw new InvalidArgumentError(`expected a non-negative integer, got '${value}'`);
  }
  return n;
}

/** Parses `true` or `false`, as Determined's `--smaller-is-better` takes them. */
export function booleanArg(value: string): boolean {
  if (value === 'true' || value === 'false') {
    return value === 'true';
  }
  throw new InvalidArgumentError(`expected true or false, got '${value}'`);
}
