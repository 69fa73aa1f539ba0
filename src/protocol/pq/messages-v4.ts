/**
 * libsignal's version-4 (PQXDH) session messages (`rust/protocol/src/
 * protocol.rs`, `proto/wire.proto`). The v3 classes stay as they are; these
 * are separate so v3 sessions cannot be handed a v4 message by accident.
 *
 *   SignalMessage v4 = 0x44 ‖ protobuf { 1: ratchet_key (33), 2: counter,
 *                        3: previous_counter, 4: ciphertext (AES-256-CBC),
 *                        5: pq_ratchet (SPQR message, omitted when empty),
 *                        6: addresses (optional, kept as received) } ‖ MAC (8)
 *     MAC = HMAC-SHA256(mac key, sender identity ‖ receiver identity
 *                                ‖ everything before the MAC)[0..8]
 *
 *   PreKeySignalMessage v4 = 0x44 ‖ protobuf { 1: pre_key_id (optional),
 *                        2: base_key, 3: identity_key, 4: message (a v4
 *                        SignalMessage), 5: registration_id,
 *                        6: signed_pre_key_id, 7: kyber_pre_key_id,
 *                        8: kyber_ciphertext (type ‖ 1568) }
 *
 * Fields are written in field-number order, as prost emits them. In v4 the
 * KEM id and ciphertext are both required: libsignal refuses a v4 prekey
 * message without them, and one with only one of the two.
 */
import type { CryptoProvider } from '../../crypto/provider.js';
import { bytesEqual, concatBytes, copyBytes } from '../bytes.js';
import type { PublicKey } from '../curve.js';
import { ProtocolError } from '../errors.js';
import { MAC_LENGTH, parsePublicKey } from '../signal-message.js';
import { asBytes, asUint32, ProtoReader, ProtoWriter } from '../wire.js';
import { parseCiphertext } from './kem.js';

/** libsignal's `CIPHERTEXT_MESSAGE_CURRENT_VERSION`. */
export const PQ_MESSAGE_VERSION = 4;
/** `(4 << 4) | 4`. */
export const PQ_VERSION_BYTE = (PQ_MESSAGE_VERSION << 4) | PQ_MESSAGE_VERSION;
const AES_BLOCK = 16;

function checkV4(byte: number | undefined): void {
  if (byte === undefined) throw new ProtocolError('invalid-message', 'empty message');
  if (byte >> 4 !== PQ_MESSAGE_VERSION) {
    throw new ProtocolError('invalid-version', `not a version 4 message (version ${byte >> 4})`);
  }
}

async function computeMac(
  crypto: CryptoProvider,
  macKey: Uint8Array,
  senderIdentity: Uint8Array,
  receiverIdentity: Uint8Array,
  content: Uint8Array,
): Promise<Uint8Array> {
  const full = await crypto.hmacSha256(
    macKey,
    concatBytes(senderIdentity, receiverIdentity, content),
  );
  return full.subarray(0, MAC_LENGTH);
}

/** A parsed or freshly built v4 `SignalMessage`. Holds no secret. */
export class SignalMessageV4 {
  private constructor(
    readonly senderRatchetKey: PublicKey,
    readonly counter: number,
    readonly previousCounter: number,
    readonly ciphertext: Uint8Array,
    /** The SPQR message carried along (empty: none). */
    readonly pqRatchet: Uint8Array,
    /** libsignal's optional sender/recipient service ids (field 6), as received. */
    readonly addresses: Uint8Array | undefined,
    /** version ‖ protobuf ‖ MAC. */
    readonly serialized: Uint8Array,
  ) {}

  /** Builds and MACs a message (sender side). */
  static async create(
    crypto: CryptoProvider,
    fields: {
      readonly senderRatchetKey: PublicKey;
      readonly counter: number;
      readonly previousCounter: number;
      readonly ciphertext: Uint8Array;
      readonly pqRatchet: Uint8Array;
    },
    macKey: Uint8Array,
    senderIdentity: Uint8Array,
    receiverIdentity: Uint8Array,
  ): Promise<SignalMessageV4> {
    // Where the ciphertext and SPQR fields end in the body, so the message's
    // copies of them can be views of its own serialized bytes (as a parsed
    // message's are) rather than arrays of their own.
    let ciphertextEnd = 0;
    let pqRatchetEnd = 0;
    const out = ProtoWriter.encodeFramed(1, MAC_LENGTH, (w) => {
      w.bytes(1, fields.senderRatchetKey.serialize())
        .uint(2, fields.counter)
        .uint(3, fields.previousCounter)
        .bytes(4, fields.ciphertext);
      ciphertextEnd = 1 + w.length;
      if (fields.pqRatchet.length > 0) w.bytes(5, fields.pqRatchet);
      pqRatchetEnd = 1 + w.length;
    });
    out[0] = PQ_VERSION_BYTE;
    const contentEnd = out.length - MAC_LENGTH;
    out.set(
      await computeMac(
        crypto,
        macKey,
        senderIdentity,
        receiverIdentity,
        out.subarray(0, contentEnd),
      ),
      contentEnd,
    );
    return new SignalMessageV4(
      fields.senderRatchetKey,
      fields.counter,
      fields.previousCounter,
      out.subarray(ciphertextEnd - fields.ciphertext.length, ciphertextEnd),
      out.subarray(pqRatchetEnd - fields.pqRatchet.length, pqRatchetEnd),
      undefined,
      out,
    );
  }

  /** Parses untrusted bytes: 'invalid-message', 'invalid-version' or 'invalid-key'. */
  static deserialize(serialized: Uint8Array): SignalMessageV4 {
    if (!(serialized instanceof Uint8Array)) {
      throw new ProtocolError('invalid-message', 'message must be bytes');
    }
    if (serialized.length < 1 + MAC_LENGTH)
      throw new ProtocolError('invalid-message', 'message too short');
    checkV4(serialized[0]);
    const own = copyBytes(serialized);
    const reader: ProtoReader = new ProtoReader(
      own.subarray(1, own.length - MAC_LENGTH),
      'invalid-message',
    );
    let ratchetKey: Uint8Array | undefined;
    let counter: number | undefined;
    let previousCounter = 0;
    let ciphertext: Uint8Array | undefined;
    let pqRatchet: Uint8Array = new Uint8Array(0);
    let addresses: Uint8Array | undefined;
    while (reader.more) {
      const f = reader.next();
      if (f.field === 1) ratchetKey = asBytes(reader, f);
      else if (f.field === 2) counter = asUint32(reader, f);
      else if (f.field === 3) previousCounter = asUint32(reader, f);
      else if (f.field === 4) ciphertext = asBytes(reader, f);
      else if (f.field === 5) pqRatchet = asBytes(reader, f);
      else if (f.field === 6) addresses = asBytes(reader, f);
    }
    if (ratchetKey === undefined || counter === undefined || ciphertext === undefined) {
      throw new ProtocolError('invalid-message', 'SignalMessage lacks a required field');
    }
    if (ciphertext.length === 0 || ciphertext.length % AES_BLOCK !== 0) {
      throw new ProtocolError('invalid-message', 'ciphertext is not whole AES blocks');
    }
    return new SignalMessageV4(
      parsePublicKey(ratchetKey, 'ratchet key'),
      counter,
      previousCounter,
      ciphertext,
      pqRatchet,
      addresses,
      own,
    );
  }

  /** Checks the truncated MAC (receiver side). */
  async verifyMac(
    crypto: CryptoProvider,
    macKey: Uint8Array,
    senderIdentity: Uint8Array,
    receiverIdentity: Uint8Array,
  ): Promise<boolean> {
    const split = this.serialized.length - MAC_LENGTH;
    const expected = await computeMac(
      crypto,
      macKey,
      senderIdentity,
      receiverIdentity,
      this.serialized.subarray(0, split),
    );
    return bytesEqual(expected, this.serialized.subarray(split));
  }
}

/** A parsed or freshly built v4 `PreKeySignalMessage`. Holds no secret. */
export class PreKeySignalMessageV4 {
  private constructor(
    readonly registrationId: number,
    readonly preKeyId: number | undefined,
    readonly signedPreKeyId: number,
    readonly kyberPreKeyId: number,
    /** `type ‖ c`, type and length already checked. */
    readonly kyberCiphertext: Uint8Array,
    readonly baseKey: PublicKey,
    readonly identityKey: PublicKey,
    readonly message: SignalMessageV4,
    readonly serialized: Uint8Array,
  ) {}

  static create(fields: {
    readonly registrationId: number;
    readonly preKeyId: number | undefined;
    readonly signedPreKeyId: number;
    readonly kyberPreKeyId: number;
    readonly kyberCiphertext: Uint8Array;
    readonly baseKey: PublicKey;
    readonly identityKey: PublicKey;
    readonly message: SignalMessageV4;
  }): PreKeySignalMessageV4 {
    parseCiphertext(fields.kyberCiphertext);
    const body = ProtoWriter.encode((w) => {
      if (fields.preKeyId !== undefined) w.uint(1, fields.preKeyId);
      w.bytes(2, fields.baseKey.serialize())
        .bytes(3, fields.identityKey.serialize())
        .bytes(4, fields.message.serialized)
        .uint(5, fields.registrationId)
        .uint(6, fields.signedPreKeyId)
        .uint(7, fields.kyberPreKeyId)
        .bytes(8, fields.kyberCiphertext);
    });
    const serialized = new Uint8Array(1 + body.length);
    serialized[0] = PQ_VERSION_BYTE;
    serialized.set(body, 1);
    return new PreKeySignalMessageV4(
      fields.registrationId,
      fields.preKeyId,
      fields.signedPreKeyId,
      fields.kyberPreKeyId,
      copyBytes(fields.kyberCiphertext),
      fields.baseKey,
      fields.identityKey,
      fields.message,
      serialized,
    );
  }

  /** Parses untrusted bytes: 'invalid-message', 'invalid-version' or 'invalid-key'. */
  static deserialize(serialized: Uint8Array): PreKeySignalMessageV4 {
    if (!(serialized instanceof Uint8Array)) {
      throw new ProtocolError('invalid-message', 'message must be bytes');
    }
    checkV4(serialized[0]);
    const own = copyBytes(serialized);
    const reader: ProtoReader = new ProtoReader(own.subarray(1), 'invalid-message');
    let preKeyId: number | undefined;
    let baseKey: Uint8Array | undefined;
    let identityKey: Uint8Array | undefined;
    let message: Uint8Array | undefined;
    let registrationId = 0;
    let signedPreKeyId: number | undefined;
    let kyberPreKeyId: number | undefined;
    let kyberCiphertext: Uint8Array | undefined;
    while (reader.more) {
      const f = reader.next();
      if (f.field === 1) preKeyId = asUint32(reader, f);
      else if (f.field === 2) baseKey = asBytes(reader, f);
      else if (f.field === 3) identityKey = asBytes(reader, f);
      else if (f.field === 4) message = asBytes(reader, f);
      else if (f.field === 5) registrationId = asUint32(reader, f);
      else if (f.field === 6) signedPreKeyId = asUint32(reader, f);
      else if (f.field === 7) kyberPreKeyId = asUint32(reader, f);
      else if (f.field === 8) kyberCiphertext = asBytes(reader, f);
    }
    if (
      baseKey === undefined ||
      identityKey === undefined ||
      message === undefined ||
      signedPreKeyId === undefined
    ) {
      throw new ProtocolError('invalid-message', 'PreKeySignalMessage lacks a required field');
    }
    // A v4 message without its KEM part would be X3DH under a v4 label: a
    // downgrade, refused as libsignal refuses it.
    if (kyberPreKeyId === undefined || kyberCiphertext === undefined) {
      throw new ProtocolError(
        'invalid-message',
        'v4 PreKeySignalMessage lacks its KEM prekey id or ciphertext',
      );
    }
    parseCiphertext(kyberCiphertext);
    return new PreKeySignalMessageV4(
      registrationId,
      preKeyId,
      signedPreKeyId,
      kyberPreKeyId,
      kyberCiphertext,
      parsePublicKey(baseKey, 'base key'),
      parsePublicKey(identityKey, 'identity key'),
      SignalMessageV4.deserialize(message),
      own,
    );
  }
}
