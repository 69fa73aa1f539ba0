/**
 * The Quintet side of `bench/protocol.ts`: one device with in-memory stores
 * on the `nodeCrypto` provider, with the same scenarios as
 * `libsignal-client.ts`.
 */
import { nodeCrypto } from '../src/crypto/node.js';
import { systemClock } from '../src/crypto/provider.js';
import { protocolAddress, type ProtocolAddress } from '../src/protocol/address.js';
import type { ProtocolContext } from '../src/protocol/context.js';
import { generateSigningKeyPair } from '../src/protocol/curve.js';
import { generateKyberPreKey } from '../src/protocol/pq/kyber-prekey-record.js';
import {
  generatePreKeys,
  generateRegistrationId,
  generateSignedPreKey,
} from '../src/protocol/prekeys.js';
import { processPreKeyBundle, type PreKeyBundle } from '../src/protocol/session-builder.js';
import { SessionCipher, type CiphertextMessage } from '../src/protocol/session-cipher.js';
import { createMemoryStores, type MemoryProtocolStores } from '../src/protocol/stores/memory.js';
import { MemorySenderKeyStore } from '../src/protocol/stores/sender-key-store.js';

/** The real environment: platform crypto, OS randomness, wall clock. */
export const quintetContext: ProtocolContext = {
  crypto: nodeCrypto,
  random: (length) => nodeCrypto.randomBytes(length),
  clock: systemClock,
};

/** One Quintet device: its address and all its stores. */
export class QuintetDevice {
  readonly senderKeys = new MemorySenderKeyStore();
  readonly #ciphers = new Map<string, SessionCipher>();

  private constructor(
    readonly address: ProtocolAddress,
    readonly stores: MemoryProtocolStores,
  ) {}

  /** A device with a fresh identity key (seed-based, so it signs natively). */
  static async create(name: string, deviceId: number): Promise<QuintetDevice> {
    const identity = await generateSigningKeyPair(nodeCrypto, quintetContext.random);
    const stores = createMemoryStores(identity, generateRegistrationId(quintetContext.random));
    return new QuintetDevice(protocolAddress(name, deviceId), stores);
  }

  /**
   * Publishes prekeys and returns the bundle a peer would fetch: the signed
   * prekey, a one-time EC prekey unless `oneTime` is false, and with `kem` a
   * signed last-resort Kyber1024 prekey (a bundle with one makes the peer
   * start a version-4 PQXDH + SPQR session; reusable, as libsignal's is).
   */
  async bundle(options: { kem?: boolean; oneTime?: boolean } = {}): Promise<PreKeyBundle> {
    const identity = await this.stores.identity.getIdentityKeyPair();
    const signed = await generateSignedPreKey(quintetContext, identity, 1);
    await this.stores.signedPreKeys.storeSignedPreKey(signed.id, signed);
    let bundle: PreKeyBundle = {
      registrationId: await this.stores.identity.getLocalRegistrationId(),
      deviceId: this.address.deviceId,
      signedPreKeyId: signed.id,
      signedPreKey: signed.keyPair.publicKey,
      signedPreKeySignature: signed.signature,
      identityKey: identity.publicKey,
    };
    if (options.oneTime !== false) {
      const [preKey] = await generatePreKeys(quintetContext, 1, 1);
      if (preKey === undefined) throw new Error('no prekey generated');
      await this.stores.preKeys.storePreKey(preKey.id, preKey);
      bundle = { ...bundle, preKeyId: preKey.id, preKey: preKey.keyPair.publicKey };
    }
    if (options.kem === true) {
      const kyber = await generateKyberPreKey(quintetContext, identity, 1);
      await this.stores.kyberPreKeys.storeLastResortKyberPreKey(kyber.id, kyber);
      bundle = {
        ...bundle,
        kyberPreKeyId: kyber.id,
        kyberPreKey: kyber.keyPair.publicKey,
        kyberPreKeySignature: kyber.signature,
      };
    }
    return bundle;
  }

  /** The version of the current session with `peer` (3 or 4), undefined without one. */
  async sessionVersion(peer: ProtocolAddress): Promise<number | undefined> {
    return (await this.stores.sessions.loadSession(peer))?.current?.sessionVersion;
  }

  #cipher(peer: ProtocolAddress): SessionCipher {
    const key = `${peer.name}.${peer.deviceId}`;
    let cipher = this.#ciphers.get(key);
    if (cipher === undefined) {
      cipher = new SessionCipher(quintetContext, this.stores, peer);
      this.#ciphers.set(key, cipher);
    }
    return cipher;
  }

  /** Starts a session to `peer` from its bundle (X3DH as initiator). */
  processBundle(peer: ProtocolAddress, bundle: PreKeyBundle): Promise<void> {
    return processPreKeyBundle(quintetContext, this.stores, peer, bundle);
  }

  /** Encrypts to `peer`. */
  encrypt(peer: ProtocolAddress, plaintext: Uint8Array): Promise<CiphertextMessage> {
    return this.#cipher(peer).encrypt(plaintext);
  }

  /** Decrypts a message from `peer` of either type. */
  decrypt(peer: ProtocolAddress, message: CiphertextMessage): Promise<Uint8Array> {
    const cipher = this.#cipher(peer);
    return message.type === 'prekey'
      ? cipher.decryptPreKeySignalMessage(message.body)
      : cipher.decryptSignalMessage(message.body);
  }
}
