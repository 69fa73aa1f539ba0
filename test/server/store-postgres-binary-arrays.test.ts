/**
 * The binary array parameters of the PostgreSQL queue batch
 * (binary-arrays.ts): the byte layout PostgreSQL's `array_recv` reads, and
 * a round trip through the real server — every value it is given comes
 * back as PostgreSQL stored it, NULLs and empty arrays included. Values
 * outside a type's range are refused here, before anything is sent.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import pg from 'pg';
import { int4Array, int8Array, textArray } from '../../src/server/store/postgres/binary-arrays.js';
import { checkProperty } from '../property.js';
import { serviceSkip, TEST_DATABASE_URL } from '../helpers/services.js';

const skip = await serviceSkip('postgres');

describe('binary array parameters: layout', () => {
  it('writes dimensions, null flag, element type, length and bound, then each element', () => {
    assert.deepEqual(
      [...int4Array([7, null])],
      [
        ...[0, 0, 0, 1], // one dimension
        ...[0, 0, 0, 1], // has NULLs
        ...[0, 0, 0, 23], // int4
        ...[0, 0, 0, 2], // two elements
        ...[0, 0, 0, 1], // lower bound 1
        ...[0, 0, 0, 4, 0, 0, 0, 7],
        ...[0xff, 0xff, 0xff, 0xff], // NULL
      ],
    );
  });

  it('writes an empty array as zero dimensions', () => {
    assert.deepEqual([...textArray([])], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 25]);
  });

  it('writes a negative int8 in two’s complement', () => {
    assert.deepEqual(
      [...int8Array([-2]).subarray(20)],
      [0, 0, 0, 8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe],
    );
  });

  it('refuses values its type cannot hold instead of sending them wrapped', () => {
    assert.throws(() => int4Array([2 ** 31]), RangeError);
    assert.throws(() => int4Array([1.5]), RangeError);
    assert.throws(() => int4Array([Number.NaN]), RangeError);
    assert.throws(() => int8Array([2 ** 53]), RangeError);
    assert.throws(() => int8Array([Number.NaN]), RangeError);
  });
});

describe('binary array parameters: through PostgreSQL', { skip }, () => {
  let client: pg.Client;

  before(async () => {
    client = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await client.connect();
  });
  after(async () => {
    await client.end();
  });

  /** What PostgreSQL made of the three parameters, read back as text. */
  async function roundTrip(
    int4: readonly (number | null)[],
    int8: readonly (number | null)[],
    text: readonly string[],
  ): Promise<{ int4: (number | null)[]; int8: (number | null)[]; text: string[] }> {
    const { rows } = await client.query<{ a: string[]; b: string[]; c: string[] }>({
      name: 'binary_arrays_round_trip',
      // Read back as text[]: node-postgres' parsers are not under test here.
      text: `SELECT $1::int[]::text[] AS a, $2::bigint[]::text[] AS b, $3::text[] AS c`,
      values: [int4Array(int4), int8Array(int8), textArray(text)],
    });
    const row = rows[0];
    assert.ok(row !== undefined);
    const numbers = (values: (string | null)[]): (number | null)[] =>
      values.map((v) => (v === null ? null : Number(v)));
    return { int4: numbers(row.a), int8: numbers(row.b), text: row.c };
  }

  it('gives back what it was sent, NULLs and empty arrays included', async () => {
    await checkProperty(
      fc.asyncProperty(
        fc.array(fc.option(fc.integer(), { nil: null }), { maxLength: 40 }),
        fc.array(
          fc.option(fc.integer({ min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER }), {
            nil: null,
          }),
          { maxLength: 40 },
        ),
        // Any string PostgreSQL text can hold: no NUL, no lone surrogate.
        fc.array(
          fc.string({ unit: 'grapheme' }).filter((s) => !s.includes('\u0000')),
          {
            maxLength: 40,
          },
        ),
        async (int4, int8, text) => {
          assert.deepEqual(await roundTrip(int4, int8, text), { int4, int8, text });
        },
      ),
      { numRuns: 60 },
    );
  });

  it('carries the extremes of each type', async () => {
    const int4 = [-(2 ** 31), 2 ** 31 - 1, 0];
    const int8 = [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, -1, 2 ** 32, -(2 ** 32)];
    assert.deepEqual(await roundTrip(int4, int8, ['', 'ø', '🦊']), {
      int4,
      int8,
      text: ['', 'ø', '🦊'],
    });
  });

  it('is refused by PostgreSQL as another element type (why each parameter is cast exactly)', async () => {
    await assert.rejects(
      client.query({ text: 'SELECT $1::bigint[] AS a', values: [int4Array([1])] }),
      /element type/,
    );
  });
});
