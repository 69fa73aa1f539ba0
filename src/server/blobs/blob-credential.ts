/**
 * Bearer tokens for the blob HTTP API, issued over the authenticated
 * WebSocket (`get_blob_credential`).
 *
 * A token is `<payload>.<mac>`: the payload names the device and an expiry,
 * the mac is HMAC-SHA256 over it under a 32-byte secret the blob store
 * keeps (a file beside the blobs, or a row in PostgreSQL). Chosen over
 * random tokens stored per device because verifying needs no write and no
 * lookup of the token, yet works on every node of a cluster (they share
 * the secret through the database) and across restarts. What an HMAC alone
 * cannot do — revoke — is covered by the short lifetime and by the routes
 * checking that the device still exists, so a removed or logged-out device
 * loses the API at once.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** How long a credential is valid (the contract: about an hour). */
export const BLOB_CREDENTIAL_TTL_MS = 60 * 60 * 1000;

/** The device a valid token speaks for. */
export interface BlobPrincipal {
  readonly account: string;
  readonly deviceId: number;
  readonly expiresAt: number;
}

/** Longest token accepted: a bound before any parsing or hashing. */
const MAX_TOKEN_LENGTH = 512;
const VERSION = 'q1';

function mac(key: Uint8Array, payload: string): Buffer {
  return createHmac('sha256', key).update(payload, 'utf8').digest();
}

/** A token for `account`/`deviceId` valid until `expiresAt`. */
export function issueBlobCredential(
  key: Uint8Array,
  account: string,
  deviceId: number,
  expiresAt: number,
): string {
  // Account names never contain a space (wire/account-name.ts).
  const payload = `${VERSION} ${account} ${deviceId} ${expiresAt}`;
  return `${Buffer.from(payload, 'utf8').toString('base64url')}.${mac(key, payload).toString('base64url')}`;
}

/**
 * The device `token` speaks for, or undefined when it is malformed, forged
 * (wrong mac) or expired at `now`. The mac is compared in constant time.
 */
export function verifyBlobCredential(
  key: Uint8Array,
  token: string,
  now: number,
): BlobPrincipal | undefined {
  if (token.length > MAX_TOKEN_LENGTH) return undefined;
  const dot = token.indexOf('.');
  if (dot < 0) return undefined;
  const payload = Buffer.from(token.slice(0, dot), 'base64url').toString('utf8');
  const given = Buffer.from(token.slice(dot + 1), 'base64url');
  const expected = mac(key, payload);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
  const parts = payload.split(' ');
  if (parts.length !== 4 || parts[0] !== VERSION) return undefined;
  const account = parts[1] ?? '';
  const deviceId = Number(parts[2]);
  const expiresAt = Number(parts[3]);
  if (account === '' || !Number.isSafeInteger(deviceId) || !Number.isSafeInteger(expiresAt)) {
    return undefined;
  }
  if (expiresAt <= now) return undefined;
  return { account, deviceId, expiresAt };
}
