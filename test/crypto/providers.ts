/**
 * Every `CryptoProvider` under test: the Node backend, the WebCrypto backend
 * (run here on Node's WebCrypto) and the WebCrypto backend forced onto its
 * @noble/curves fallback, so the known-answer suite covers all three paths.
 */
import { createBrowserCrypto, browserCrypto } from '../../src/crypto/browser.js';
import { nodeCrypto } from '../../src/crypto/node.js';
import type { CryptoProvider } from '../../src/crypto/provider.js';

/** All providers, each with a distinct `name`. */
export const providers: readonly CryptoProvider[] = [
  nodeCrypto,
  browserCrypto,
  createBrowserCrypto({ nativeCurves: false }),
];

/** Hex → bytes (test data only). */
export function hex(text: string): Uint8Array {
  const clean = text.replace(/\s+/g, '');
  if (clean.length % 2 !== 0) throw new Error('odd hex length');
  return Uint8Array.from(Buffer.from(clean, 'hex'));
}

/** Bytes → hex (test data only). */
export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

/** `length` copies of `byte`. */
export function repeat(byte: number, length: number): Uint8Array {
  return new Uint8Array(length).fill(byte);
}

/** The bytes start, start+1, … (mod 256), as used by RFC 5869 test case 2. */
export function sequence(start: number, length: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (start + i) & 0xff);
}
