/**
 * The bytes a device signs with its identity key to prove possession of it,
 * for registration and for authentication.
 *
 * Layout (all lengths fixed or prefixed, so no two inputs give the same bytes):
 *
 *   "quintet-auth-v1" (15 ASCII bytes) ‖ 0x00
 *   ‖ nonce (32 bytes, issued by the server, single use)
 *   ‖ u16 BE length ‖ account name (UTF-8)
 *   ‖ u32 BE device id
 *
 * Why the label: the same identity key also signs signed prekeys (the payload
 * is a 33-byte public key starting 0x05) and ADV device identities (starting
 * 0x06 0x00/0x01/0x02). Starting with ASCII "q" (0x71), with a different
 * length, a signature over this payload can never be replayed as any other
 * protocol signature, nor one of those as a login. The nonce binds it to one
 * server challenge; the account and device bind it to one device.
 */
import { WireError } from './errors.js';

/** The domain-separation label, version included so a future layout cannot collide. */
export const AUTH_LABEL = 'quintet-auth-v1';

/** Length of a server challenge nonce. */
export const NONCE_LENGTH = 32;

/** How long a challenge nonce stays valid after it was issued. */
export const CHALLENGE_TTL_MS = 60_000;

const LABEL_BYTES = new TextEncoder().encode(AUTH_LABEL);

/** Builds the payload to sign; throws `WireError('invalid-argument')` on a bad nonce, name or id. */
export function authenticationPayload(
  nonce: Uint8Array,
  account: string,
  deviceId: number,
): Uint8Array {
  if (nonce.length !== NONCE_LENGTH) {
    throw new WireError('invalid-argument', `nonce must be ${NONCE_LENGTH} bytes`);
  }
  if (!Number.isInteger(deviceId) || deviceId < 0 || deviceId > 0xffffffff) {
    throw new WireError('invalid-argument', 'device id must be a u32');
  }
  const name = new TextEncoder().encode(account);
  if (name.length > 0xffff) {
    throw new WireError('invalid-argument', 'account name too long');
  }
  const out = new Uint8Array(LABEL_BYTES.length + 1 + NONCE_LENGTH + 2 + name.length + 4);
  const view = new DataView(out.buffer);
  let offset = 0;
  out.set(LABEL_BYTES, offset);
  offset += LABEL_BYTES.length;
  out[offset++] = 0;
  out.set(nonce, offset);
  offset += NONCE_LENGTH;
  view.setUint16(offset, name.length, false);
  offset += 2;
  out.set(name, offset);
  offset += name.length;
  view.setUint32(offset, deviceId, false);
  return out;
}
