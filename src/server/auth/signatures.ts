/**
 * Signature checks the server performs with devices' identity keys: the
 * authentication payload (registration and login) and signed prekeys. The
 * server holds only public keys, so these checks are all it can do — and
 * all it needs: a stolen database lets nobody pass them.
 */
import type { CryptoProvider } from '../../crypto/provider.js';
import { PublicKey, verify } from '../../protocol/curve.js';
import { ProtocolError } from '../../protocol/errors.js';
import { authenticationPayload } from '../../wire/auth.js';
import { ServiceError } from '../errors.js';

/** Parses a 33-byte identity or prekey public key from a request. */
export function parsePublicKey(bytes: Uint8Array, what: string): PublicKey {
  try {
    return PublicKey.deserialize(bytes);
  } catch (error) {
    if (ProtocolError.is(error, 'invalid-key')) {
      throw new ServiceError(
        'malformed-request',
        `${what} is not a valid public key`,
        {},
        {
          cause: error,
        },
      );
    }
    throw error;
  }
}

/** Verifies the identity key's signature over the auth payload; `invalid-signature` if not. */
export async function checkAuthenticationSignature(
  crypto: CryptoProvider,
  identityKey: PublicKey,
  nonce: Uint8Array,
  account: string,
  deviceId: number,
  signature: Uint8Array,
): Promise<void> {
  const payload = authenticationPayload(nonce, account, deviceId);
  if (!(await verify(crypto, identityKey, payload, signature))) {
    throw new ServiceError('invalid-signature', 'signature does not verify');
  }
}

/**
 * Verifies a signed prekey the way libsignal does: an XEdDSA signature by
 * the identity key over the 33-byte serialized prekey. Storing an unchecked
 * one would let a malicious client (or a bug) hand out bundles that every
 * peer rejects.
 */
export async function checkSignedPreKey(
  crypto: CryptoProvider,
  identityKey: PublicKey,
  publicKey: Uint8Array,
  signature: Uint8Array,
): Promise<void> {
  const key = parsePublicKey(publicKey, 'signed prekey');
  if (!(await verify(crypto, identityKey, key.serialize(), signature))) {
    throw new ServiceError('invalid-signature', 'signed prekey signature does not verify');
  }
}
