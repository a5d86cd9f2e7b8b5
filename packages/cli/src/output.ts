import Table from 'cli-table3';

import type { CliIo } from './io.js';

/** Prints `value` as indented JSON on stdout: what `--json` gives scripts. */
export function printJson(io: CliIo, value: unknown): void {
  io.stdout.write(`${JSON.stringify(value, jsonReplacer, 2)}\n`);
}

/** Prints rows as a table on stdout, Determined's default output. */
export function printTable(io: CliIo, head: string[], rows: unknown[][]): void {
  const table = new Table({ head, style: { head: [], border: [] } });
  table.push(...rows.map((row) => row.map(cell)));
  io.stdout.write(`${table.toString()}\n`);
}

/** Prints `key: value` lines, for one object's details. */
export function printFields(io: CliIo, fields: [string, unknown][]): void {
  const width = Math.max(...fields.map(([key]) => key.length));
  for (const [key, value] of fields) {
    io.stdout.write(`${`${key}:`.padEnd(width + 2)}${cell(value)}\n`);
  }
}

function cell(value: unknown): string {
  if (value === undefined || value === null) {
    return '';
  }
  if (value instanceof Date) {
    return value.toISOString();
  }
  if (typeof value === 'number') {
    return Number.isInteger(value) ? String(value) : value.toPrecision(6);
  }
  if (typeof value === 'string') {
    return value;
  }
  return JSON.stringify(value, jsonReplacer) ?? '';
}

// JSON has no NaN or Infinity; Determined's API spells them as strings, and so do we.
function jsonReplacer(_key: string, value: unknown): unknown {
  if (typeof value === 'number' && !Number.isFinite(value)) {
    return String(value);
  }
  return value;
}
