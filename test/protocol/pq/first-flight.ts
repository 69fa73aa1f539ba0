/**
 * Test-side drivers for the first flight of a version-4 session, built from
 * the pure PQXDH pieces (no session records yet: SPQR state is future work).
 *
 * - `FirstFlightReceiver`: Bob's side. Runs PQXDH on an incoming v4
 *   PreKeySignalMessage and decrypts the messages of Alice's first sending
 *   chain, in order, using the SPQR epoch-0 A→B chain for their keys.
 * - `firstFlightSender`: Alice's side. Runs PQXDH on a bundle and encrypts
 *   messages on her first sending chain; the caller chooses what goes into
 *   the `pq_ratchet` field of each message.
 */
import type { ProtocolContext } from '../../../src/protocol/context.js';
import { generateKeyPair, type KeyPair, type PublicKey } from '../../../src/protocol/curve.js';
import { messageKeySeed, nextChainKey, type ChainKey } from '../../../src/protocol/chain-key.js';
import { ProtocolError } from '../../../src/protocol/errors.js';
import { deriveMessageKeys } from '../../../src/protocol/message-keys.js';
import type { KemPublicKey, KemSecretKey } from '../../../src/protocol/pq/kem.js';
import { PreKeySignalMessageV4, SignalMessageV4 } from '../../../src/protocol/pq/messages-v4.js';
import { pqxdhAccept, pqxdhInitiate, type PqxdhKeys } from '../../../src/protocol/pq/pqxdh.js';
import {
  spqrChainStart,
  spqrKeyAt,
  type SpqrChainDirection,
} from '../../../src/protocol/pq/spqr-chain.js';
import { decodeSpqrMessage } from '../../../src/protocol/pq/spqr-message.js';
import { createChain } from '../../../src/protocol/root-key.js';

/** The SPQR key of a message on the epoch-0 chain, or undefined for "no key". */
async function spqrKeyFor(
  ctx: ProtocolContext,
  chain: { dir: SpqrChainDirection },
  pqRatchet: Uint8Array,
): Promise<Uint8Array | undefined> {
  const spqr = decodeSpqrMessage(pqRatchet);
  if (spqr === undefined) return undefined;
  if (spqr.epoch !== 1)
    throw new ProtocolError('invalid-message', 'only epoch-0 keys are driven here');
  if (spqr.index === 0) return undefined;
  const step = await spqrKeyAt(ctx.crypto, chain.dir, spqr.index);
  chain.dir = step.chain;
  return step.key;
}

/** Bob: what he holds for the prekeys the message names. */
export interface ResponderKeys {
  readonly identity: KeyPair;
  readonly signedPreKey: KeyPair;
  readonly oneTimePreKey: KeyPair | undefined;
  readonly kemSecretKey: KemSecretKey;
}

export class FirstFlightReceiver {
  private constructor(
    private readonly ctx: ProtocolContext,
    readonly message: PreKeySignalMessageV4,
    readonly keys: PqxdhKeys,
    private readonly identity: KeyPair,
    private chain: ChainKey,
    private readonly spqr: { dir: SpqrChainDirection },
  ) {}

  /** Runs PQXDH and the first DH ratchet step for a v4 prekey message. */
  static async start(
    ctx: ProtocolContext,
    bob: ResponderKeys,
    body: Uint8Array,
  ): Promise<FirstFlightReceiver> {
    const message = PreKeySignalMessageV4.deserialize(body);
    const keys = await pqxdhAccept(ctx, {
      ourIdentityKeyPair: bob.identity,
      ourSignedPreKeyPair: bob.signedPreKey,
      ourOneTimePreKeyPair: bob.oneTimePreKey,
      ourKemPreKey: bob.kemSecretKey,
      theirIdentityKey: message.identityKey,
      theirBaseKey: message.baseKey,
      theirKemCiphertext: message.kyberCiphertext,
    });
    const step = await createChain(
      ctx.crypto,
      keys.rootKey,
      message.message.senderRatchetKey,
      bob.signedPreKey.privateKey,
    );
    const start = await spqrChainStart(ctx.crypto, keys.pqrKey);
    return new FirstFlightReceiver(ctx, message, keys, bob.identity, step.chainKey, {
      dir: start.a2b,
    });
  }

  /** Decrypts the next message of Alice's first chain ('bad-mac' if it does not verify). */
  async decrypt(message: SignalMessageV4): Promise<Uint8Array> {
    const { crypto } = this.ctx;
    while (this.chain.index < message.counter) this.chain = await nextChainKey(crypto, this.chain);
    const seed = await messageKeySeed(crypto, this.chain);
    const pqrKey = await spqrKeyFor(this.ctx, this.spqr, message.pqRatchet);
    const keys = await deriveMessageKeys(crypto, seed, message.counter, pqrKey);
    const ok = await message.verifyMac(
      crypto,
      keys.macKey,
      this.message.identityKey.serialize(),
      this.identity.publicKey.serialize(),
    );
    if (!ok) throw new ProtocolError('bad-mac', 'MAC does not verify');
    this.chain = await nextChainKey(crypto, this.chain);
    return crypto.aes256CbcDecrypt(keys.cipherKey, keys.iv, message.ciphertext);
  }
}

/** Alice: a bundle's public parts (signatures already checked by the caller). */
export interface InitiatorBundle {
  readonly registrationId: number;
  readonly identityKey: PublicKey;
  readonly signedPreKeyId: number;
  readonly signedPreKey: PublicKey;
  readonly preKeyId: number | undefined;
  readonly preKey: PublicKey | undefined;
  readonly kyberPreKeyId: number;
  readonly kyberPreKey: KemPublicKey;
}

/** Alice's first chain: encrypts prekey messages until Bob answers. */
export async function firstFlightSender(
  ctx: ProtocolContext,
  alice: { identity: KeyPair; registrationId: number },
  bundle: InitiatorBundle,
): Promise<{
  keys: PqxdhKeys;
  encrypt(plaintext: Uint8Array, pqRatchet: (spqrIndex: number) => Uint8Array): Promise<Uint8Array>;
  /** Decrypts Bob's first reply (a v4 SignalMessage on his first chain, SPQR B→A epoch 0). */
  decryptReply(body: Uint8Array): Promise<Uint8Array>;
}> {
  const base = await generateKeyPair(ctx.crypto, ctx.random);
  const { keys, kemCiphertext } = await pqxdhInitiate(ctx, {
    ourIdentityKeyPair: alice.identity,
    ourBaseKeyPair: base,
    theirIdentityKey: bundle.identityKey,
    theirSignedPreKey: bundle.signedPreKey,
    theirOneTimePreKey: bundle.preKey,
    theirKemPreKey: bundle.kyberPreKey,
  });
  const ratchet = await generateKeyPair(ctx.crypto, ctx.random);
  const step = await createChain(ctx.crypto, keys.rootKey, bundle.signedPreKey, ratchet.privateKey);
  let chain = step.chainKey;
  const spqrStart = await spqrChainStart(ctx.crypto, keys.pqrKey);
  const spqr = { dir: spqrStart.a2b };
  const spqrReplies = { dir: spqrStart.b2a };
  return {
    keys,
    async decryptReply(body) {
      const { crypto } = ctx;
      const message = SignalMessageV4.deserialize(body);
      // Bob's reply starts a new chain: the DH ratchet step with his new key.
      const receiving = await createChain(
        crypto,
        step.rootKey,
        message.senderRatchetKey,
        ratchet.privateKey,
      );
      let replyChain = receiving.chainKey;
      while (replyChain.index < message.counter)
        replyChain = await nextChainKey(crypto, replyChain);
      const seed = await messageKeySeed(crypto, replyChain);
      const pqrKey = await spqrKeyFor(ctx, spqrReplies, message.pqRatchet);
      const messageKeys = await deriveMessageKeys(crypto, seed, message.counter, pqrKey);
      const ok = await message.verifyMac(
        crypto,
        messageKeys.macKey,
        bundle.identityKey.serialize(),
        alice.identity.publicKey.serialize(),
      );
      if (!ok) throw new ProtocolError('bad-mac', 'MAC does not verify');
      return crypto.aes256CbcDecrypt(messageKeys.cipherKey, messageKeys.iv, message.ciphertext);
    },
    async encrypt(plaintext, pqRatchet) {
      const { crypto } = ctx;
      const seed = await messageKeySeed(crypto, chain);
      // The sender's SPQR key of this message is the next key of the A→B
      // chain, unless the message carries no SPQR message at all (version 0).
      const spqrStep = await spqrKeyAt(crypto, spqr.dir, spqr.dir.ctr + 1);
      const pqBytes = pqRatchet(spqrStep.chain.ctr);
      let pqrKey: Uint8Array | undefined;
      if (pqBytes.length > 0) {
        spqr.dir = spqrStep.chain;
        pqrKey = spqrStep.key;
      }
      const messageKeys = await deriveMessageKeys(crypto, seed, chain.index, pqrKey);
      const ciphertext = await crypto.aes256CbcEncrypt(
        messageKeys.cipherKey,
        messageKeys.iv,
        plaintext,
      );
      const inner = await SignalMessageV4.create(
        crypto,
        {
          senderRatchetKey: ratchet.publicKey,
          counter: chain.index,
          previousCounter: 0,
          ciphertext,
          pqRatchet: pqBytes,
        },
        messageKeys.macKey,
        alice.identity.publicKey.serialize(),
        bundle.identityKey.serialize(),
      );
      chain = await nextChainKey(crypto, chain);
      return PreKeySignalMessageV4.create({
        registrationId: alice.registrationId,
        preKeyId: bundle.preKeyId,
        signedPreKeyId: bundle.signedPreKeyId,
        kyberPreKeyId: bundle.kyberPreKeyId,
        kyberCiphertext: kemCiphertext,
        baseKey: base.publicKey,
        identityKey: alice.identity.publicKey,
        message: inner,
      }).serialized;
    },
  };
}
