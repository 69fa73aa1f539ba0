/**
 * X3DH session setup as libsignal v3 runs it (`rust/protocol/src/ratchet.rs`
 * `initialize_alice_session` / `initialize_bob_session`; X3DH spec §3.3):
 *
 *   secret = 32 × 0xFF ‖ DH1 ‖ DH2 ‖ DH3 [‖ DH4]
 *     DH1 = DH(IK_A, SPK_B)  DH2 = DH(EK_A, IK_B)  DH3 = DH(EK_A, SPK_B)
 *     DH4 = DH(EK_A, OPK_B)  (only when a one-time prekey was used)
 *   (root key, chain key) = HKDF-SHA256(secret, salt = none, "WhisperText", 64)
 *
 * The 0xFF prefix is X3DH's "F" (§2.2): it makes the input never a valid
 * X25519 output on its own, for domain separation from XEdDSA.
 *
 * Alice (the initiator) then draws her first ratchet key and takes the first
 * DH ratchet step against Bob's signed prekey; Bob's signed prekey is his
 * first ratchet key, so he draws nothing until Alice's ratchet key arrives.
 */
import { concatBytes } from './bytes.js';
import type { ProtocolContext } from './context.js';
import { agree, generateKeyPair, type KeyPair, type PublicKey } from './curve.js';
import { rememberRatchetKey } from './ratchet-key-cache.js';
import { createChain } from './root-key.js';
import { CIPHERTEXT_MESSAGE_VERSION } from './signal-message.js';
import { SessionState } from './session-state.js';

const X3DH_INFO = new TextEncoder().encode('WhisperText');
const NO_SALT = new Uint8Array(0);
const DISCONTINUITY = new Uint8Array(32).fill(0xff);

/** The initiator's view of an X3DH run. */
export interface AliceParameters {
  readonly ourIdentityKeyPair: KeyPair;
  readonly ourBaseKeyPair: KeyPair;
  readonly theirIdentityKey: PublicKey;
  readonly theirSignedPreKey: PublicKey;
  readonly theirOneTimePreKey: PublicKey | undefined;
  readonly localRegistrationId: number;
  readonly remoteRegistrationId: number;
}

/** The responder's view of an X3DH run. */
export interface BobParameters {
  readonly ourIdentityKeyPair: KeyPair;
  readonly ourSignedPreKeyPair: KeyPair;
  readonly ourOneTimePreKeyPair: KeyPair | undefined;
  readonly theirIdentityKey: PublicKey;
  readonly theirBaseKey: PublicKey;
  readonly localRegistrationId: number;
  readonly remoteRegistrationId: number;
}

async function deriveInitialKeys(
  ctx: ProtocolContext,
  agreements: readonly Uint8Array[],
): Promise<{ rootKey: Uint8Array; chainKey: Uint8Array }> {
  const okm = await ctx.crypto.hkdfSha256(
    concatBytes(DISCONTINUITY, ...agreements),
    NO_SALT,
    X3DH_INFO,
    64,
  );
  return { rootKey: okm.slice(0, 32), chainKey: okm.slice(32, 64) };
}

/**
 * Alice's session. Draws exactly one key pair (her first ratchet key); the
 * base key was drawn by the caller before, so the order of draws is
 * base key, then ratchet key.
 */
export async function initializeAliceSession(
  ctx: ProtocolContext,
  p: AliceParameters,
): Promise<SessionState> {
  const { crypto } = ctx;
  const agreements = [
    await agree(crypto, p.ourIdentityKeyPair.privateKey, p.theirSignedPreKey),
    await agree(crypto, p.ourBaseKeyPair.privateKey, p.theirIdentityKey),
    await agree(crypto, p.ourBaseKeyPair.privateKey, p.theirSignedPreKey),
  ];
  if (p.theirOneTimePreKey !== undefined) {
    agreements.push(await agree(crypto, p.ourBaseKeyPair.privateKey, p.theirOneTimePreKey));
  }
  const { rootKey } = await deriveInitialKeys(ctx, agreements);
  const ratchet = await generateKeyPair(crypto, ctx.random);
  const step = await createChain(crypto, rootKey, p.theirSignedPreKey, ratchet.privateKey);
  const ratchetKey = ratchet.publicKey.serialize().slice();
  const ratchetPrivateKey = ratchet.privateKey.toStorageBytes();
  // Bob's first reply ratchets with this key: keep the object (and the
  // provider's imported key) instead of rebuilding it from the record.
  rememberRatchetKey(ratchetKey, ratchet.privateKey, ratchetPrivateKey);
  return new SessionState({
    sessionVersion: CIPHERTEXT_MESSAGE_VERSION,
    localIdentityKey: p.ourIdentityKeyPair.publicKey.serialize().slice(),
    remoteIdentityKey: p.theirIdentityKey.serialize().slice(),
    rootKey: step.rootKey,
    previousCounter: 0,
    senderChain: {
      ratchetKey,
      ratchetPrivateKey,
      chainKey: step.chainKey,
    },
    // libsignal also files the X3DH chain key as a receiving chain for Bob's
    // signed prekey; Bob never sends on it (he must receive before he can
    // send), so it is left out and the slot stays free.
    receiverChains: [],
    pendingPreKey: undefined,
    localRegistrationId: p.localRegistrationId,
    remoteRegistrationId: p.remoteRegistrationId,
    aliceBaseKey: p.ourBaseKeyPair.publicKey.serialize().slice(),
  });
}

/** Bob's session. Draws nothing: his signed prekey is his first ratchet key. */
export async function initializeBobSession(
  ctx: ProtocolContext,
  p: BobParameters,
): Promise<SessionState> {
  const { crypto } = ctx;
  const agreements = [
    await agree(crypto, p.ourSignedPreKeyPair.privateKey, p.theirIdentityKey),
    await agree(crypto, p.ourIdentityKeyPair.privateKey, p.theirBaseKey),
    await agree(crypto, p.ourSignedPreKeyPair.privateKey, p.theirBaseKey),
  ];
  if (p.ourOneTimePreKeyPair !== undefined) {
    agreements.push(await agree(crypto, p.ourOneTimePreKeyPair.privateKey, p.theirBaseKey));
  }
  const { rootKey, chainKey } = await deriveInitialKeys(ctx, agreements);
  return new SessionState({
    sessionVersion: CIPHERTEXT_MESSAGE_VERSION,
    localIdentityKey: p.ourIdentityKeyPair.publicKey.serialize().slice(),
    remoteIdentityKey: p.theirIdentityKey.serialize().slice(),
    rootKey,
    previousCounter: 0,
    senderChain: {
      ratchetKey: p.ourSignedPreKeyPair.publicKey.serialize().slice(),
      ratchetPrivateKey: p.ourSignedPreKeyPair.privateKey.toStorageBytes(),
      chainKey: { key: chainKey, index: 0 },
    },
    receiverChains: [],
    pendingPreKey: undefined,
    localRegistrationId: p.localRegistrationId,
    remoteRegistrationId: p.remoteRegistrationId,
    aliceBaseKey: p.theirBaseKey.serialize().slice(),
  });
}
