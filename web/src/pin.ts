/**
 * The local PIN of the browser device, kept only as a PBKDF2 hash in the
 * profile settings (the same `pin` setting the CLI uses). It will gate
 * approvals on this primary, such as linking a companion device.
 *
 * Format: `pbkdf2-sha256$<iterations>$<salt b64>$<hash b64>`. The CLI
 * stores `scrypt$…` (WebCrypto has no scrypt); a verifier dispatches on the
 * tag, and the iteration count travels with the hash so it can be raised.
 */
import type { SettingsStore } from '../../src/client/core/store/client-stores.js';

/** Settings key of the PIN hash (shared with the CLI). */
export const PIN_SETTING = 'pin';

/** The shortest PIN accepted. */
export const MIN_PIN_LENGTH = 4;

// OWASP's 2023 recommendation for PBKDF2-HMAC-SHA256.
const ITERATIONS = 600_000;
const HASH_BITS = 256;
const TAG = 'pbkdf2-sha256';

/** A PIN that is too short, or a stored hash that does not parse. */
export class PinError extends Error {
  override readonly name = 'PinError';
  constructor(
    readonly code: 'too-short' | 'damaged',
    message: string,
  ) {
    super(message);
  }
}

function toBase64(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes));
}

function fromBase64(text: string): Uint8Array<ArrayBuffer> {
  return Uint8Array.from(atob(text), (char) => char.charCodeAt(0));
}

async function derive(
  pin: string,
  salt: Uint8Array<ArrayBuffer>,
  iterations: number,
): Promise<Uint8Array> {
  const material = await crypto.subtle.importKey(
    'raw',
    new TextEncoder().encode(pin),
    'PBKDF2',
    false,
    ['deriveBits'],
  );
  const bits = await crypto.subtle.deriveBits(
    { name: 'PBKDF2', hash: 'SHA-256', salt, iterations },
    material,
    HASH_BITS,
  );
  return new Uint8Array(bits);
}

/** Hashes `pin` with a fresh salt into the stored format. */
export async function hashPin(pin: string): Promise<string> {
  if (pin.length < MIN_PIN_LENGTH) {
    throw new PinError('too-short', `the PIN must have at least ${MIN_PIN_LENGTH} characters`);
  }
  const salt = crypto.getRandomValues(new Uint8Array(16));
  const hash = await derive(pin, salt, ITERATIONS);
  return [TAG, ITERATIONS, toBase64(salt), toBase64(hash)].join('$');
}

/** Whether `pin` matches a `pbkdf2-sha256$…` hash; compares every byte regardless of mismatches. */
export async function verifyPin(pin: string, stored: string): Promise<boolean> {
  const [tag, iterations, salt, hash, ...rest] = stored.split('$');
  const count = Number(iterations);
  if (tag !== TAG || salt === undefined || hash === undefined || rest.length > 0 || !(count > 0)) {
    throw new PinError('damaged', 'the stored PIN hash is not a PBKDF2 hash');
  }
  const expected = fromBase64(hash);
  const actual = await derive(pin, fromBase64(salt), count);
  let diff = actual.length ^ expected.length;
  for (let i = 0; i < actual.length; i++) diff |= (actual[i] ?? 0) ^ (expected[i] ?? 0);
  return diff === 0;
}

/** Stores the hash of `pin` in the profile settings. */
export async function savePin(settings: SettingsStore, pin: string): Promise<void> {
  await settings.put(PIN_SETTING, new TextEncoder().encode(await hashPin(pin)));
}
