/**
 * Variable-length byte fields of many rows, sent to PostgreSQL as ONE bytea
 * parameter plus each row's offset and length, instead of a bytea[]:
 * node-postgres sends arrays as text — every byte as two hex digits, built
 * by string concatenation — and PostgreSQL parses them back (array_in,
 * hex_decode), about a tenth of the queue batch's backend CPU when
 * measured, while a Buffer parameter travels in binary, as it is. The
 * statement cuts each row's field out with
 * `substring(blob FROM offset + 1 FOR length)` (queue-acks-schema.ts).
 */

/** One bytea parameter holding a field of every row (see the file comment). */
export class BytePack {
  private readonly parts: Uint8Array[] = [];
  private size = 0;
  /** Each row's start in `bytes()`, 0-based; null for a NULL field. */
  readonly offsets: (number | null)[] = [];
  /** Each row's length; null for a NULL field. */
  readonly lengths: (number | null)[] = [];

  /** Appends the next row's field (`null`: the column is NULL). */
  add(field: Uint8Array | null): void {
    if (field === null) {
      this.offsets.push(null);
      this.lengths.push(null);
      return;
    }
    this.offsets.push(this.size);
    this.lengths.push(field.length);
    if (field.length > 0) this.parts.push(field);
    this.size += field.length;
  }

  /** The fields back to back. */
  bytes(): Buffer {
    return Buffer.concat(this.parts, this.size);
  }
}

/** Fields of one fixed width (guids) back to back: row k starts at k * width. */
export function packFixed(fields: readonly Uint8Array[]): Buffer {
  return Buffer.concat(fields);
}
