/**
 * Account-name rules, shared by client and server so a client can reject a
 * bad name before a round trip and both sides agree on what is valid.
 *
 * Names are lower-case ASCII only: no Unicode means no homoglyph look-alikes
 * ("аlice" with a Cyrillic а) and no normalisation ambiguity, and the fixed
 * alphabet keeps names safe in URLs, logs and file names.
 */
import { WireError } from './errors.js';

/** A letter, then 2–31 of `a-z 0-9 _ . -` (3–32 characters in all). */
export const ACCOUNT_NAME_PATTERN = /^[a-z][a-z0-9_.-]{2,31}$/;

/** Whether `name` is a valid account name. */
export function isValidAccountName(name: string): boolean {
  return ACCOUNT_NAME_PATTERN.test(name);
}

/** Returns `name` unchanged if valid; otherwise throws `WireError('invalid-account-name')`. */
export function validateAccountName(name: string): string {
  if (!isValidAccountName(name)) {
    // The name itself is user input: kept out of the message on purpose.
    throw new WireError(
      'invalid-account-name',
      'account names are 3-32 characters: a lower-case letter, then a-z, 0-9, "_", "." or "-"',
    );
  }
  return name;
}
