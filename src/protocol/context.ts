/**
 * What the protocol core needs from its host: primitives, randomness and
 * time, all injected (libsignal's `rust/protocol` takes them as arguments the
 * same way), so the core does no I/O and runs unchanged in a browser, and
 * tests can make every run deterministic.
 */
import type { Clock, CryptoProvider, RandomSource } from '../crypto/provider.js';

/** The injected environment of every protocol operation. */
export interface ProtocolContext {
  /** Primitives: HMAC, HKDF, AES, X25519, Ed25519. */
  readonly crypto: CryptoProvider;
  /** The only source of randomness the protocol draws from. */
  readonly random: RandomSource;
  /** Timestamps for signed prekeys and session bookkeeping. */
  readonly clock: Clock;
}
