/**
 * libsignal v3 `PreKeySignalMessage` (WhisperTextProtocol.proto
 * `PreKeySignalMessage`; `rust/protocol/src/protocol.rs`): the first
 * messages of a session, which carry what the responder needs to run X3DH.
 *
 *   version byte 0x33 ‖ protobuf { 1: pre_key_id (optional), 2: base_key,
 *                                  3: identity_key, 4: message (a SignalMessage),
 *                                  5: registration_id, 6: signed_pre_key_id }
 *
 * `deserialize` parses without decrypting, so a client can check the sender's
 * identity key against its device list before it accepts a new session.
 */
import { copyBytes } from './bytes.js';
import type { PublicKey } from './curve.js';
import { ProtocolError } from './errors.js';
import { checkVersionByte, parsePublicKey, SignalMessage, VERSION_BYTE } from './signal-message.js';
import { asBytes, asUint32, ProtoReader, ProtoWriter } from './wire.js';

/** A parsed or freshly built `PreKeySignalMessage`. Holds no secret. */
export class PreKeySignalMessage {
  private constructor(
    /** The sender's registration id (libsignal: 14 bits; any uint32 accepted). */
    readonly registrationId: number,
    /** The one-time prekey the sender used, if any. */
    readonly preKeyId: number | undefined,
    readonly signedPreKeyId: number,
    /** The sender's X3DH ephemeral ("base") key. */
    readonly baseKey: PublicKey,
    /** The sender's identity key. */
    readonly identityKey: PublicKey,
    /** The embedded first `SignalMessage`. */
    readonly message: SignalMessage,
    /** The complete message as sent. */
    readonly serialized: Uint8Array,
  ) {}

  /** Wraps a `SignalMessage` for a session whose prekey message is not yet acknowledged. */
  static create(fields: {
    readonly registrationId: number;
    readonly preKeyId: number | undefined;
    readonly signedPreKeyId: number;
    readonly baseKey: PublicKey;
    readonly identityKey: PublicKey;
    readonly message: SignalMessage;
  }): PreKeySignalMessage {
    const body = ProtoWriter.encode((w) => {
      if (fields.preKeyId !== undefined) w.uint(1, fields.preKeyId);
      w.bytes(2, fields.baseKey.serialize())
        .bytes(3, fields.identityKey.serialize())
        .bytes(4, fields.message.serialized)
        .uint(5, fields.registrationId)
        .uint(6, fields.signedPreKeyId);
    });
    const serialized = new Uint8Array(1 + body.length);
    serialized[0] = VERSION_BYTE;
    serialized.set(body, 1);
    return new PreKeySignalMessage(
      fields.registrationId,
      fields.preKeyId,
      fields.signedPreKeyId,
      fields.baseKey,
      fields.identityKey,
      fields.message,
      serialized,
    );
  }

  /** Parses untrusted bytes. Throws `ProtocolError` ('invalid-message', 'invalid-version', 'invalid-key'). */
  static deserialize(serialized: Uint8Array): PreKeySignalMessage {
    if (!(serialized instanceof Uint8Array)) {
      throw new ProtocolError('invalid-message', 'message must be bytes');
    }
    checkVersionByte(serialized[0]);
    const reader: ProtoReader = new ProtoReader(serialized.subarray(1), 'invalid-message');
    let preKeyId: number | undefined;
    let baseKey: Uint8Array | undefined;
    let identityKey: Uint8Array | undefined;
    let message: Uint8Array | undefined;
    let registrationId = 0;
    let signedPreKeyId: number | undefined;
    while (reader.more) {
      const f = reader.next();
      switch (f.field) {
        case 1:
          preKeyId = asUint32(reader, f);
          break;
        case 2:
          baseKey = asBytes(reader, f);
          break;
        case 3:
          identityKey = asBytes(reader, f);
          break;
        case 4:
          message = asBytes(reader, f);
          break;
        case 5:
          registrationId = asUint32(reader, f);
          break;
        case 6:
          signedPreKeyId = asUint32(reader, f);
          break;
        default:
          break;
      }
    }
    if (
      baseKey === undefined ||
      identityKey === undefined ||
      message === undefined ||
      signedPreKeyId === undefined
    ) {
      throw new ProtocolError('invalid-message', 'PreKeySignalMessage lacks a required field');
    }
    return new PreKeySignalMessage(
      registrationId,
      preKeyId,
      signedPreKeyId,
      parsePublicKey(baseKey, 'base key'),
      parsePublicKey(identityKey, 'identity key'),
      SignalMessage.deserialize(message),
      copyBytes(serialized),
    );
  }
}
