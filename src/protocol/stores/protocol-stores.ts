/**
 * The stores one 1:1 protocol operation needs, passed together (libsignal's
 * `ProtocolStore`, minus sender keys, which the group cipher takes separately).
 */
import type { IdentityKeyStore } from './identity-key-store.js';
import type { KyberPreKeyStore } from './kyber-prekey-store.js';
import type { PreKeyStore } from './prekey-store.js';
import type { SessionStore } from './session-store.js';
import type { SignedPreKeyStore } from './signed-prekey-store.js';

/** The pairwise-session stores of one device. */
export interface ProtocolStores {
  readonly identity: IdentityKeyStore;
  readonly preKeys: PreKeyStore;
  readonly signedPreKeys: SignedPreKeyStore;
  readonly sessions: SessionStore;
  /**
   * KEM prekeys, for devices that publish them (version-4 sessions as
   * responder). Without it a v4 PreKeySignalMessage names an unknown KEM
   * prekey ('invalid-prekey-id'); everything else works as before.
   */
  readonly kyberPreKeys?: KyberPreKeyStore;
}

export type { IdentityDirection, IdentityKeyStore } from './identity-key-store.js';
export type { KyberPreKeyStore } from './kyber-prekey-store.js';
export type { PreKeyStore } from './prekey-store.js';
export type { SessionStore } from './session-store.js';
export type { SignedPreKeyStore } from './signed-prekey-store.js';
