/**
 * The @signalapp/libsignal-client side of `bench/protocol.ts`: in-memory
 * stores for its abstract store classes (records kept serialized, as
 * Quintet's memory stores keep them) and the same scenarios Quintet runs.
 * libsignal-client 0.103 only speaks PQXDH, so every bundle carries a Kyber
 * prekey.
 */
import * as Signal from '@signalapp/libsignal-client';

type Bytes = Uint8Array<ArrayBuffer>;

class SessionStore extends Signal.SessionStore {
  readonly #records = new Map<string, Bytes>();
  async saveSession(address: Signal.ProtocolAddress, record: Signal.SessionRecord): Promise<void> {
    this.#records.set(address.toString(), record.serialize());
  }
  async getSession(address: Signal.ProtocolAddress): Promise<Signal.SessionRecord | null> {
    const bytes = this.#records.get(address.toString());
    return bytes === undefined ? null : Signal.SessionRecord.deserialize(bytes);
  }
  async getExistingSessions(addresses: Signal.ProtocolAddress[]): Promise<Signal.SessionRecord[]> {
    const out: Signal.SessionRecord[] = [];
    for (const address of addresses) {
      const record = await this.getSession(address);
      if (record === null) throw new Error(`no session for ${address.toString()}`);
      out.push(record);
    }
    return out;
  }
}

class IdentityStore extends Signal.IdentityKeyStore {
  readonly #known = new Map<string, Bytes>();
  constructor(
    readonly identity: Signal.IdentityKeyPair,
    readonly registrationId: number,
  ) {
    super();
  }
  async getIdentityKey(): Promise<Signal.PrivateKey> {
    return this.identity.privateKey;
  }
  async getLocalRegistrationId(): Promise<number> {
    return this.registrationId;
  }
  async saveIdentity(
    address: Signal.ProtocolAddress,
    key: Signal.PublicKey,
  ): Promise<Signal.IdentityChange> {
    const previous = this.#known.get(address.toString());
    this.#known.set(address.toString(), key.serialize());
    return previous === undefined || Buffer.compare(previous, key.serialize()) === 0
      ? Signal.IdentityChange.NewOrUnchanged
      : Signal.IdentityChange.ReplacedExisting;
  }
  async isTrustedIdentity(
    address: Signal.ProtocolAddress,
    key: Signal.PublicKey,
  ): Promise<boolean> {
    const known = this.#known.get(address.toString());
    return known === undefined || Buffer.compare(known, key.serialize()) === 0;
  }
  async getIdentity(address: Signal.ProtocolAddress): Promise<Signal.PublicKey | null> {
    const known = this.#known.get(address.toString());
    return known === undefined ? null : Signal.PublicKey.deserialize(known);
  }
}

class PreKeyStore extends Signal.PreKeyStore {
  readonly #records = new Map<number, Bytes>();
  async savePreKey(id: number, record: Signal.PreKeyRecord): Promise<void> {
    this.#records.set(id, record.serialize());
  }
  async getPreKey(id: number): Promise<Signal.PreKeyRecord> {
    const bytes = this.#records.get(id);
    if (bytes === undefined) throw new Error(`no prekey ${id}`);
    return Signal.PreKeyRecord.deserialize(bytes);
  }
  async removePreKey(id: number): Promise<void> {
    this.#records.delete(id);
  }
}

class SignedPreKeyStore extends Signal.SignedPreKeyStore {
  readonly #records = new Map<number, Bytes>();
  async saveSignedPreKey(id: number, record: Signal.SignedPreKeyRecord): Promise<void> {
    this.#records.set(id, record.serialize());
  }
  async getSignedPreKey(id: number): Promise<Signal.SignedPreKeyRecord> {
    const bytes = this.#records.get(id);
    if (bytes === undefined) throw new Error(`no signed prekey ${id}`);
    return Signal.SignedPreKeyRecord.deserialize(bytes);
  }
}

class KyberPreKeyStore extends Signal.KyberPreKeyStore {
  readonly #records = new Map<number, Bytes>();
  async saveKyberPreKey(id: number, record: Signal.KyberPreKeyRecord): Promise<void> {
    this.#records.set(id, record.serialize());
  }
  async getKyberPreKey(id: number): Promise<Signal.KyberPreKeyRecord> {
    const bytes = this.#records.get(id);
    if (bytes === undefined) throw new Error(`no kyber prekey ${id}`);
    return Signal.KyberPreKeyRecord.deserialize(bytes);
  }
  async markKyberPreKeyUsed(): Promise<void> {
    // A last-resort Kyber prekey stays usable; the benchmark reuses it.
  }
}

/** libsignal-client's sender key store, records kept serialized. */
export class LibsignalSenderKeyStore extends Signal.SenderKeyStore {
  readonly #records = new Map<string, Bytes>();
  async saveSenderKey(
    sender: Signal.ProtocolAddress,
    id: Signal.Uuid,
    record: Signal.SenderKeyRecord,
  ): Promise<void> {
    this.#records.set(`${sender.toString()}/${id}`, record.serialize());
  }
  async getSenderKey(
    sender: Signal.ProtocolAddress,
    id: Signal.Uuid,
  ): Promise<Signal.SenderKeyRecord | null> {
    const bytes = this.#records.get(`${sender.toString()}/${id}`);
    return bytes === undefined ? null : Signal.SenderKeyRecord.deserialize(bytes);
  }
}

/** One libsignal-client device: its address and all its stores. */
export class LibsignalDevice {
  readonly address: Signal.ProtocolAddress;
  readonly identity: IdentityStore;
  readonly sessions = new SessionStore();
  readonly preKeys = new PreKeyStore();
  readonly signedPreKeys = new SignedPreKeyStore();
  readonly kyberPreKeys = new KyberPreKeyStore();
  readonly senderKeys = new LibsignalSenderKeyStore();

  constructor(name: string, deviceId: number, registrationId: number) {
    this.address = Signal.ProtocolAddress.new(name, deviceId);
    this.identity = new IdentityStore(Signal.IdentityKeyPair.generate(), registrationId);
  }

  /**
   * Publishes prekeys and returns the bundle a peer would fetch: the signed
   * prekey, the Kyber1024 prekey (libsignal-client 0.103 requires one) and a
   * one-time EC prekey unless `oneTime` is false.
   */
  async bundle(options: { oneTime?: boolean } = {}): Promise<Signal.PreKeyBundle> {
    const identity = this.identity.identity;
    const signedPreKey = Signal.PrivateKey.generate();
    const signedSignature = identity.privateKey.sign(signedPreKey.getPublicKey().serialize());
    const kyber = Signal.KEMKeyPair.generate();
    const kyberSignature = identity.privateKey.sign(kyber.getPublicKey().serialize());
    let preKey: Signal.PrivateKey | null = null;
    if (options.oneTime !== false) {
      preKey = Signal.PrivateKey.generate();
      await this.preKeys.savePreKey(1, Signal.PreKeyRecord.new(1, preKey.getPublicKey(), preKey));
    }
    await this.signedPreKeys.saveSignedPreKey(
      1,
      Signal.SignedPreKeyRecord.new(
        1,
        Date.now(),
        signedPreKey.getPublicKey(),
        signedPreKey,
        signedSignature,
      ),
    );
    await this.kyberPreKeys.saveKyberPreKey(
      1,
      Signal.KyberPreKeyRecord.new(1, Date.now(), kyber, kyberSignature),
    );
    return Signal.PreKeyBundle.new(
      this.identity.registrationId,
      this.address.deviceId(),
      preKey === null ? null : 1,
      preKey === null ? null : preKey.getPublicKey(),
      1,
      signedPreKey.getPublicKey(),
      signedSignature,
      identity.publicKey,
      1,
      kyber.getPublicKey(),
      kyberSignature,
    );
  }

  /**
   * Whether the session with `peer` is current in libsignal's sense: since
   * 0.100 only a session with SPQR state is (a PQXDH session without the
   * triple ratchet is not), so this proves the benchmark runs SPQR.
   */
  async hasCurrentState(peer: Signal.ProtocolAddress): Promise<boolean> {
    return (await this.sessions.getSession(peer))?.hasCurrentState() === true;
  }

  /** Starts a session to `peer` from its bundle (X3DH/PQXDH as initiator). */
  processBundle(peer: Signal.ProtocolAddress, bundle: Signal.PreKeyBundle): Promise<void> {
    return Signal.processPreKeyBundle(bundle, peer, this.address, this.sessions, this.identity);
  }

  /** Encrypts to `peer`; returns the wire bytes and whether it is a prekey message. */
  async encrypt(
    peer: Signal.ProtocolAddress,
    plaintext: Bytes,
  ): Promise<{ prekey: boolean; body: Bytes }> {
    const message = await Signal.signalEncrypt(
      plaintext,
      peer,
      this.address,
      this.sessions,
      this.identity,
    );
    return {
      prekey: message.type() === Number(Signal.CiphertextMessageType.PreKey),
      body: message.serialize(),
    };
  }

  /** Decrypts a message from `peer` of either type. */
  decrypt(peer: Signal.ProtocolAddress, message: { prekey: boolean; body: Bytes }): Promise<Bytes> {
    if (message.prekey) {
      return Signal.signalDecryptPreKey(
        Signal.PreKeySignalMessage.deserialize(message.body),
        peer,
        this.address,
        this.sessions,
        this.identity,
        this.preKeys,
        this.signedPreKeys,
        this.kyberPreKeys,
      );
    }
    return Signal.signalDecrypt(
      Signal.SignalMessage.deserialize(message.body),
      peer,
      this.address,
      this.sessions,
      this.identity,
    );
  }
}
