/**
 * Small byte helpers shared by the session modules. Pure: no `Buffer`.
 */

/** Concatenates byte arrays into one new array. */
export function concatBytes(...parts: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const part of parts) length += part.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/**
 * Equality of public values (ratchet keys, base keys, identity keys). Runs in
 * time independent of where the arrays differ, so it is also safe for MACs.
 */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= (a[i] ?? 0) ^ (b[i] ?? 0);
  return diff === 0;
}

/**
 * A copy as a plain `Uint8Array`. `Buffer#slice` returns a view, not a copy,
 * so `.slice()` on bytes a caller handed in may alias the caller's memory;
 * this never does.
 */
export function copyBytes(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes);
}
