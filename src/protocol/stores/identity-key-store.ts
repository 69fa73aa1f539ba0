/**
 * Our identity key and what we know of other devices' identity keys
 * (libsignal `storage/traits.rs` `IdentityKeyStore`).
 */
import type { ProtocolAddress } from '../address.js';
import type { KeyPair, PublicKey } from '../curve.js';

/** Whether a key is about to be used to send to, or was used to receive from, a device. */
export type IdentityDirection = 'sending' | 'receiving';

/** The identity store contract. All methods are async so any backend fits. */
export interface IdentityKeyStore {
  /** This device's long-term identity key pair. */
  getIdentityKeyPair(): Promise<KeyPair>;
  /** This device's registration id (sent in prekey messages). */
  getLocalRegistrationId(): Promise<number>;
  /**
   * Records `key` as the identity of `address`. Returns true when it replaced
   * a different key (the peer's identity changed), false otherwise.
   */
  saveIdentity(address: ProtocolAddress, key: PublicKey): Promise<boolean>;
  /**
   * Whether `key` may be used for `address`. The protocol refuses to build or
   * use a session when this says no ('untrusted-identity'); the policy
   * (trust on first use, verified-only, …) belongs to the store.
   */
  isTrustedIdentity(
    address: ProtocolAddress,
    key: PublicKey,
    direction: IdentityDirection,
  ): Promise<boolean>;
  /** The identity recorded for `address`, if any. */
  getIdentity(address: ProtocolAddress): Promise<PublicKey | undefined>;
}
