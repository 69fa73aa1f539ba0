/**
 * A thin typed wrapper around the npm `libsignal` package (the JavaScript
 * libsignal v3 session implementation, CommonJS), used as the reference peer
 * in the interop tests. Its keys are Node Buffers with the 0x05 prefix.
 */
import { createRequire } from 'node:module';

/** A libsignal key pair: `pubKey` 33 bytes (0x05 ‖ u), `privKey` 32 bytes. */
export interface LsKeyPair {
  pubKey: Buffer;
  privKey: Buffer;
}

interface LsRecord {
  serialize(): unknown;
}
interface LsRecordClass {
  new (): LsRecord;
  deserialize(data: unknown): LsRecord;
}
interface LsAddress {
  toString(): string;
}
interface LsStorage {
  getOurIdentity(): Promise<LsKeyPair>;
  getOurRegistrationId(): Promise<number>;
  isTrustedIdentity(id: string, key: Buffer): Promise<boolean>;
  loadSession(id: string): Promise<LsRecord | undefined>;
  storeSession(id: string, record: LsRecord): Promise<void>;
  loadPreKey(id: number): Promise<LsKeyPair | undefined>;
  removePreKey(id: number): Promise<void>;
  loadSignedPreKey(id: number): Promise<LsKeyPair | undefined>;
}
interface LsModule {
  ProtocolAddress: new (name: string, deviceId: number) => LsAddress;
  SessionRecord: LsRecordClass;
  SessionBuilder: new (
    storage: LsStorage,
    address: LsAddress,
  ) => {
    initOutgoing(device: {
      identityKey: Buffer;
      registrationId: number;
      preKey?: { keyId: number; publicKey: Buffer };
      signedPreKey: { keyId: number; publicKey: Buffer; signature: Buffer };
    }): Promise<void>;
  };
  SessionCipher: new (
    storage: LsStorage,
    address: LsAddress,
  ) => {
    encrypt(data: Buffer): Promise<{ type: number; body: Buffer }>;
    decryptWhisperMessage(data: Buffer): Promise<Buffer>;
    decryptPreKeyWhisperMessage(data: Buffer): Promise<Buffer>;
  };
  keyhelper: {
    generateIdentityKeyPair(): LsKeyPair;
    generateRegistrationId(): number;
    generateSignedPreKey(
      identity: LsKeyPair,
      id: number,
    ): { keyId: number; keyPair: LsKeyPair; signature: Buffer };
    generatePreKey(id: number): { keyId: number; keyPair: LsKeyPair };
  };
}

const require = createRequire(import.meta.url);
/** The libsignal module, typed by the subset the tests use. */
export const libsignal = require('libsignal') as LsModule;

/** A libsignal device with in-memory storage that keeps records serialized. */
export class LibsignalPeer {
  readonly identity = libsignal.keyhelper.generateIdentityKeyPair();
  readonly registrationId = libsignal.keyhelper.generateRegistrationId();
  readonly signedPreKey = libsignal.keyhelper.generateSignedPreKey(this.identity, 7);
  readonly preKeys = new Map<number, LsKeyPair>();
  readonly sessions = new Map<string, string>();
  #nextPreKey = 100;

  readonly storage: LsStorage = {
    getOurIdentity: async () => this.identity,
    getOurRegistrationId: async () => this.registrationId,
    isTrustedIdentity: async () => true,
    loadSession: async (id) => {
      const json = this.sessions.get(id);
      return json === undefined ? undefined : libsignal.SessionRecord.deserialize(JSON.parse(json));
    },
    storeSession: async (id, record) => {
      this.sessions.set(id, JSON.stringify(record.serialize()));
    },
    loadPreKey: async (id) => this.preKeys.get(id),
    removePreKey: async (id) => {
      this.preKeys.delete(id);
    },
    loadSignedPreKey: async (id) =>
      id === this.signedPreKey.keyId ? this.signedPreKey.keyPair : undefined,
  };

  constructor(readonly name: string) {}

  /**
   * The bundle fields a Quintet peer needs, with a fresh one-time prekey
   * unless `oneTime` is false (a server that ran out of them hands out the
   * signed prekey alone).
   */
  bundle(options: { oneTime?: boolean } = {}): {
    registrationId: number;
    identityKey: Buffer;
    preKeyId?: number;
    preKey?: Buffer;
    signedPreKeyId: number;
    signedPreKey: Buffer;
    signature: Buffer;
  } {
    const base = {
      registrationId: this.registrationId,
      identityKey: this.identity.pubKey,
      signedPreKeyId: this.signedPreKey.keyId,
      signedPreKey: this.signedPreKey.keyPair.pubKey,
      signature: this.signedPreKey.signature,
    };
    if (options.oneTime === false) return base;
    const pk = libsignal.keyhelper.generatePreKey(this.#nextPreKey++);
    this.preKeys.set(pk.keyId, pk.keyPair);
    return {
      ...base,
      preKeyId: pk.keyId,
      preKey: pk.keyPair.pubKey,
      signedPreKeyId: this.signedPreKey.keyId,
      signedPreKey: this.signedPreKey.keyPair.pubKey,
      signature: this.signedPreKey.signature,
    };
  }

  address(name: string, deviceId: number): LsAddress {
    return new libsignal.ProtocolAddress(name, deviceId);
  }

  cipher(name: string, deviceId: number): InstanceType<LsModule['SessionCipher']> {
    return new libsignal.SessionCipher(this.storage, this.address(name, deviceId));
  }
}
