/**
 * The stable error vocabulary of the client <-> server wire protocol.
 *
 * A failed request is answered with `Response.error.code` set to one of
 * `ServerErrorCode`. Clients branch on the code, never on the message text;
 * codes are never renamed or reused (add new ones instead). Messages are for
 * people and never contain key material or message content.
 *
 * This module is pure (no Node built-ins) so the browser client can use it.
 */

/**
 * Every code a Quintet server puts in `Error.code`.
 *
 * - `unauthenticated` — the request needs an authenticated connection.
 * - `forbidden` — authenticated, but this device may not do that.
 * - `malformed-frame` — the bytes are not a `Frame` (or not a request); repeated abuse closes the connection.
 * - `malformed-request` — a request field is missing, of the wrong length or out of range.
 * - `unknown-request` — a request type this server does not implement (a newer client).
 * - `invalid-account-name` — the name does not match `ACCOUNT_NAME_PATTERN`.
 * - `account-taken` — registration for a name that already exists.
 * - `registration-token-required` — the server requires a registration token and none was given.
 * - `invalid-registration-token` — the token given does not match.
 * - `challenge-expired` — the nonce is unknown, already used, or older than its lifetime.
 * - `invalid-signature` — a signature (auth payload, signed prekey or KEM prekey) does not verify.
 * - `unknown-account` — no account of that name.
 * - `unknown-device` — the account has no device of that id.
 * - `mismatched-devices` — a send's device set differs from the account's; see `missing_devices` / `extra_devices`.
 * - `stale-devices` — a send names a registration id that is not the device's current one; see `stale_devices`.
 * - `envelope-too-large` — one envelope exceeds the server's limit.
 * - `too-many-envelopes` — a send carries more envelopes than the server allows.
 * - `too-many-pre-keys` — a prekey upload exceeds the batch size or the per-device maximum.
 * - `rate-limited` — slow down; `limit` names the limit that was hit, retry after `retry_after_ms`.
 * - `queue-full` — a recipient device's queue is at its bound (count or bytes; `limit` says which); the queued messages are kept, this send is refused.
 * - `storage-full` — the server's disk is full; nothing of this request was stored. Retry later (`retry_after_ms`).
 * - `unavailable` — the server's database cannot be reached right now (restart, failover). The request may or may not have been stored; retry the same request after `retry_after_ms` (or on another server).
 * - `internal` — a server fault; the request may be retried.
 * - `not-primary` — only the primary device (device 1) may do that (approve a link, remove a device, publish a device list).
 * - `primary-cannot-logout` — the primary holds the account key and cannot log itself out.
 * - `unknown-link` — no open linking session with that reference or token (unknown, already used, or invalidated by a fresher one).
 * - `link-expired` — the linking session's lifetime ran out, or the waiting companion is gone.
 * - `invalid-link` — the completing identity key is not the one the primary approved.
 * - `invalid-device-identity` — a companion's signed device identity does not verify against the account key, or names another key index.
 * - `too-many-devices` — the account already has the most companions this server allows.
 * - `invalid-device-list` — a signed key-index list that does not parse, is not signed by the account key, or does not match the change.
 * - `device-list-rollback` — a signed key-index list that is not newer than the one stored.
 * - `device-removed` — the device was removed (remote logout, self logout, inactivity, account reset); the message names the reason.
 * - `unknown-group` — no group with that id.
 * - `group-exists` — a create names a group id that is already taken.
 * - `not-group-member` — the caller's account is not a member of the group (read, send, change).
 * - `not-group-admin` — only an admin may add or remove members.
 * - `invalid-group-change` — a group change that does not parse or does not fit the action (members, target, author, version 0 on create).
 * - `group-version-conflict` — an update whose version or previous hash is not the current head's: refetch the chain and retry.
 * - `group-too-large` — the membership would exceed the server's `maxGroupMembers`.
 */
export type ServerErrorCode =
  | 'unauthenticated'
  | 'forbidden'
  | 'malformed-frame'
  | 'malformed-request'
  | 'unknown-request'
  | 'invalid-account-name'
  | 'account-taken'
  | 'registration-token-required'
  | 'invalid-registration-token'
  | 'challenge-expired'
  | 'invalid-signature'
  | 'unknown-account'
  | 'unknown-device'
  | 'mismatched-devices'
  | 'stale-devices'
  | 'envelope-too-large'
  | 'too-many-envelopes'
  | 'too-many-pre-keys'
  | 'rate-limited'
  | 'internal'
  | 'not-primary'
  | 'primary-cannot-logout'
  | 'unknown-link'
  | 'link-expired'
  | 'invalid-link'
  | 'invalid-device-identity'
  | 'too-many-devices'
  | 'invalid-device-list'
  | 'device-list-rollback'
  | 'device-removed'
  | 'unknown-group'
  | 'group-exists'
  | 'not-group-member'
  | 'not-group-admin'
  | 'invalid-group-change'
  | 'group-version-conflict'
  | 'group-too-large'
  | 'queue-full'
  | 'storage-full'
  | 'unavailable';

/** All server error codes, for validation and for pre-registering metrics. */
export const SERVER_ERROR_CODES: readonly ServerErrorCode[] = [
  'unauthenticated',
  'forbidden',
  'malformed-frame',
  'malformed-request',
  'unknown-request',
  'invalid-account-name',
  'account-taken',
  'registration-token-required',
  'invalid-registration-token',
  'challenge-expired',
  'invalid-signature',
  'unknown-account',
  'unknown-device',
  'mismatched-devices',
  'stale-devices',
  'envelope-too-large',
  'too-many-envelopes',
  'too-many-pre-keys',
  'rate-limited',
  'internal',
  'not-primary',
  'primary-cannot-logout',
  'unknown-link',
  'link-expired',
  'invalid-link',
  'invalid-device-identity',
  'too-many-devices',
  'invalid-device-list',
  'device-list-rollback',
  'device-removed',
  'unknown-group',
  'group-exists',
  'not-group-member',
  'not-group-admin',
  'invalid-group-change',
  'group-version-conflict',
  'group-too-large',
  'queue-full',
  'storage-full',
  'unavailable',
];

const CODE_SET: ReadonlySet<string> = new Set(SERVER_ERROR_CODES);

/** Type guard: is `value` a code this version knows? (A newer server may send others.) */
export function isServerErrorCode(value: string): value is ServerErrorCode {
  return CODE_SET.has(value);
}

/** Codes raised by the wire helpers themselves (decoding, building payloads). */
export type WireErrorCode = 'malformed-frame' | 'invalid-account-name' | 'invalid-argument';

/** A typed failure of a wire helper. The message never contains payload bytes. */
export class WireError extends Error {
  override readonly name = 'WireError';
  constructor(
    readonly code: WireErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
  /** Type guard: `WireError.is(err, 'malformed-frame')`. */
  static is(value: unknown, code?: WireErrorCode): value is WireError {
    return value instanceof WireError && (code === undefined || value.code === code);
  }
}
