/**
 * The local PIN of the browser device, kept only as a PBKDF2 hash in the
 * profile settings (the same `pin` setting the CLI uses). It will gate
 * approvals on this primary, such as linking a companion device.
 *
 * Format: `pbkdf2-sha256$<iterations>$<salt b64>$<hash b64>`. The CLI
 * stores `scrypt$<log2 N>$<r>$<p>$<salt b64>$<hash b64>`; WebCrypto has no
 * scrypt, so that format is checked with @noble/hashes' plain-JS scrypt
 * (a CLI-made hash only ever reaches a browser profile by import). `verifyPin` dispatches on the tag, and the
 * cost parameters travel with the hash so they can be raised.
 */
import { scryptAsync } from '@noble/hashes/scrypt.js';
import {
  type Clock,
  LocalAuthGate,
  type SettingsStore,
  systemClock,
} from '../../src/sdk/browser.js';

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
    readonly code: 'too-short' | 'damaged' | 'no-pin',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

function toBase64(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes));
}

function fromBase64(text: string): Uint8Array<ArrayBuffer> {
  let binary: string;
  try {
    binary = atob(text);
  } catch (cause) {
    throw new PinError('damaged', 'the stored PIN hash is not valid base64', { cause });
  }
  return Uint8Array.from(binary, (char) => char.charCodeAt(0));
}

/** Compares every byte regardless of where the first mismatch is (no timing signal). */
function sameHash(actual: Uint8Array, expected: Uint8Array): boolean {
  let diff = actual.length ^ expected.length;
  for (let i = 0; i < actual.length; i++) diff |= (actual[i] ?? 0) ^ (expected[i] ?? 0);
  return diff === 0;
}

// The CLI's scrypt cost is log2 N = 15, r = 8 (32 MiB). The caps refuse a
// damaged or hostile hash that would make the page allocate gigabytes.
const SCRYPT_MAX_LOG_N = 20;
const SCRYPT_MAX_R = 16;
const SCRYPT_MAX_P = 4;

/** Checks `pin` against the CLI's `scrypt$…` format. */
async function verifyScrypt(pin: string, parts: readonly string[]): Promise<boolean> {
  const [, logN, r, p, salt, hash] = parts;
  const n = Number(logN);
  const rr = Number(r);
  const pp = Number(p);
  if (
    parts.length !== 6 ||
    salt === undefined ||
    hash === undefined ||
    !Number.isInteger(n) ||
    !Number.isInteger(rr) ||
    !Number.isInteger(pp) ||
    n < 1 ||
    n > SCRYPT_MAX_LOG_N ||
    rr < 1 ||
    rr > SCRYPT_MAX_R ||
    pp < 1 ||
    pp > SCRYPT_MAX_P
  ) {
    throw new PinError('damaged', 'the stored PIN hash is not a valid scrypt hash');
  }
  const expected = fromBase64(hash);
  const saltBytes = fromBase64(salt);
  if (expected.length === 0) throw new PinError('damaged', 'the stored scrypt hash is empty');
  const actual = await scryptAsync(new TextEncoder().encode(pin), saltBytes, {
    N: 2 ** n,
    r: rr,
    p: pp,
    dkLen: expected.length,
    maxmem: 256 * 2 ** n * rr * pp,
  });
  return sameHash(actual, expected);
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

/**
 * Whether `pin` matches a stored hash: this app's `pbkdf2-sha256$…` or the
 * CLI's `scrypt$…`. Anything else, or a malformed hash, is `damaged`.
 */
export async function verifyPin(pin: string, stored: string): Promise<boolean> {
  const parts = stored.split('$');
  if (parts[0] === 'scrypt') return verifyScrypt(pin, parts);
  const [tag, iterations, salt, hash, ...rest] = parts;
  const count = Number(iterations);
  if (
    tag !== TAG ||
    salt === undefined ||
    hash === undefined ||
    rest.length > 0 ||
    !Number.isInteger(count) ||
    count <= 0
  ) {
    throw new PinError('damaged', 'the stored PIN hash is not a PBKDF2 hash');
  }
  const expected = fromBase64(hash);
  const actual = await derive(pin, fromBase64(salt), count);
  return sameHash(actual, expected);
}

/** Stores the hash of `pin` in the profile settings. */
export async function savePin(settings: SettingsStore, pin: string): Promise<void> {
  await settings.put(PIN_SETTING, new TextEncoder().encode(await hashPin(pin)));
}

/**
 * The approval gate of this browser's profile: PIN checked against the
 * stored hash, with the core's persistent lockout after 5 wrong PINs. A
 * profile without a PIN (a companion) cannot approve anything.
 */
export function pinGate(settings: SettingsStore, clock: Clock = systemClock): LocalAuthGate {
  return new LocalAuthGate({
    settings,
    clock,
    verify: async (pin) => {
      const stored = await settings.get(PIN_SETTING);
      if (stored === undefined) {
        throw new PinError('no-pin', 'this browser has no PIN, so it cannot approve devices');
      }
      return verifyPin(pin, new TextDecoder().decode(stored));
    },
  });
}
