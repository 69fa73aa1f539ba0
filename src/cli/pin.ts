/**
 * The local PIN. Only a scrypt hash is kept in the profile (settings key
 * `pin`); it gates local approvals — linking a companion device and removing
 * one (the "authenticate the user locally" step of WhatsApp's linking flow),
 * with the persistent lockout of `LocalAuthGate` against guessing.
 *
 * Format: `scrypt$<log2 N>$<r>$<p>$<salt b64>$<hash b64>`, so the cost can
 * be raised later without breaking stored hashes.
 */
import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { type Clock, LocalAuthGate, type SettingsStore, systemClock } from '../sdk/index.js';
import { CliError } from './cli-error.js';

/** Settings key of the PIN hash. */
export const PIN_SETTING = 'pin';

const LOG_N = 15;
const R = 8;
const P = 1;
const KEY_LENGTH = 32;
const MIN_PIN_LENGTH = 4;

function derive(
  pin: string,
  salt: Uint8Array,
  logN: number,
  r: number,
  p: number,
): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    // maxmem above 128·N·r (32 MiB at these parameters).
    scrypt(
      pin,
      salt,
      KEY_LENGTH,
      { N: 2 ** logN, r, p, maxmem: 256 * 2 ** logN * r },
      (error, key) => {
        if (error !== null) reject(error);
        else resolve(new Uint8Array(key));
      },
    );
  });
}

/** Hashes a PIN with a fresh salt. */
export async function hashPin(pin: string): Promise<string> {
  if (pin.length < MIN_PIN_LENGTH) {
    throw new CliError(`the PIN must have at least ${MIN_PIN_LENGTH} characters`);
  }
  const salt = randomBytes(16);
  const hash = await derive(pin, salt, LOG_N, R, P);
  return [
    'scrypt',
    LOG_N,
    R,
    P,
    salt.toString('base64'),
    Buffer.from(hash).toString('base64'),
  ].join('$');
}

/** Checks a PIN against a stored hash (constant-time comparison). */
export async function verifyPin(pin: string, stored: string): Promise<boolean> {
  const parts = stored.split('$');
  const [tag, logN, r, p, salt, hash] = parts;
  if (parts.length !== 6 || tag !== 'scrypt' || salt === undefined || hash === undefined) {
    throw new CliError('the stored PIN hash is damaged');
  }
  const expected = Buffer.from(hash, 'base64');
  const actual = await derive(pin, Buffer.from(salt, 'base64'), Number(logN), Number(r), Number(p));
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

/** Stores the hash of `pin` in the profile settings. */
export async function savePin(settings: SettingsStore, pin: string): Promise<void> {
  await settings.put(PIN_SETTING, new TextEncoder().encode(await hashPin(pin)));
}

/** Reads a line from the terminal without echoing it (raw mode). */
function promptHidden(question: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const stdin = process.stdin;
    let value = '';
    const finish = (): void => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
    };
    const onData = (chunk: string): void => {
      for (const char of chunk) {
        if (char === '\r' || char === '\n') {
          finish();
          resolve(value);
          return;
        }
        if (char === '\u0003') {
          finish();
          reject(new CliError('cancelled', 130));
          return;
        }
        if (char === '\u007f' || char === '\b') value = value.slice(0, -1);
        else value += char;
      }
    };
    process.stderr.write(question);
    stdin.setEncoding('utf8');
    stdin.setRawMode(true);
    stdin.resume();
    stdin.on('data', onData);
  });
}

/** The PIN from `--pin`, `$QUINTET_PIN`, or a prompt on a terminal. */
export async function obtainPin(option: string | undefined): Promise<string> {
  if (option !== undefined) return option;
  const fromEnv = process.env['QUINTET_PIN'];
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  if (process.stdin.isTTY) {
    const first = await promptHidden('Choose a PIN: ');
    const second = await promptHidden('Repeat the PIN: ');
    if (first !== second) throw new CliError('the PINs do not match');
    return first;
  }
  throw new CliError('a PIN is required: pass --pin, set QUINTET_PIN, or run in a terminal');
}

/**
 * The PIN for an approval: `--pin`, `$QUINTET_PIN`, or one hidden prompt on
 * a terminal. Never echoed, logged or put in an error.
 */
export async function obtainApprovalPin(option: string | undefined): Promise<string> {
  if (option !== undefined) return option;
  const fromEnv = process.env['QUINTET_PIN'];
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  if (process.stdin.isTTY) return promptHidden('PIN: ');
  throw new CliError('a PIN is required: pass --pin, set QUINTET_PIN, or run in a terminal');
}

/**
 * The approval gate of a profile: checks PINs against the stored scrypt
 * hash, with the persistent 5-failure lockout. A profile without a PIN hash
 * (a companion, or a damaged profile) cannot approve anything.
 */
export function pinGate(settings: SettingsStore, clock: Clock = systemClock): LocalAuthGate {
  return new LocalAuthGate({
    settings,
    clock,
    verify: async (pin) => {
      const stored = await settings.get(PIN_SETTING);
      if (stored === undefined) throw new CliError('this profile has no PIN; it cannot approve');
      return verifyPin(pin, new TextDecoder().decode(stored));
    },
  });
}
