// The folded transaction writes parameters into its SQL as literals: every string must come
// back from PostgreSQL exactly as sent, whatever quotes, backslashes or placeholders it holds.
import fc from 'fast-check';
import type { CompiledQuery } from 'kysely';
import pg from 'pg';
import { describe, expect, it, onTestFinished } from 'vitest';

import { testDialects } from '../../test/helpers.js';
import { inlineParameters, stringLiteral } from './folded-transaction.js';

const HOSTILE = [
  '',
  "it's",
  "''",
  '\\',
  "\\'; drop table trials; --",
  'a\\nb',
  '$1 $2 $$ $tag$',
  '{"loss":"NaN","note":"say \\"hi\\""}',
  'ünïcødé ✓ 𝄞',
  '\n\t\r',
];

function compiled(sql: string, parameters: unknown[]): CompiledQuery {
  return { sql, parameters, query: { kind: 'RawNode' } } as unknown as CompiledQuery;
}

describe('stringLiteral', () => {
  it('writes what pg.escapeLiteral writes', () => {
    for (const value of HOSTILE) {
      expect(stringLiteral(value)).toBe(pg.escapeLiteral(value));
    }
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (value) => {
        expect(stringLiteral(value)).toBe(pg.escapeLiteral(value));
      }),
    );
  });

  it('refuses values it cannot write as literals', () => {
    expect(() => inlineParameters(compiled('select $1', [Number.NaN]))).toThrow(TypeError);
    expect(() => inlineParameters(compiled('select $1', [{ a: 1 }]))).toThrow(TypeError);
  });
});

describe.runIf(testDialects().includes('postgres'))('inlineParameters on PostgreSQL', () => {
  it('round-trips hostile strings, numbers, booleans and nulls through the server', async () => {
    const client = new pg.Client({ connectionString: process.env.DET_TEST_POSTGRES_URL });
    await client.connect();
    onTestFinished(() => client.end());
    // Both settings of standard_conforming_strings read the literals the same way.
    for (const conforming of ['on', 'off']) {
      await client.query(`set standard_conforming_strings = ${conforming}`);
      const values = [...HOSTILE, 'x'.repeat(5000) + "'\\"];
      const sql = values.map((_, i) => `$${i + 1}::text as v${i}`).join(', ');
      const { rows } = await client.query<Record<string, string>>(
        `select ${inlineParameters(compiled(sql, values))}`,
      );
      expect(values.map((_, i) => rows[0]?.[`v${i}`])).toEqual(values);
      const mixed = await client.query<Record<string, unknown>>(
        inlineParameters(
          compiled('select $1::float8 as n, $2::boolean as b, $3::text as z, $4::int as i', [
            -1.5e-7,
            false,
            null,
            42,
          ]),
        ),
      );
      expect(mixed.rows[0]).toEqual({ n: -1.5e-7, b: false, z: null, i: 42 });
    }
  });
});
