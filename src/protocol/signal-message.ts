/**
 * libsignal v3 `SignalMessage` (WhisperTextProtocol.proto `SignalMessage`;
 * `rust/protocol/src/protocol.rs`):
 *
 *   version byte 0x33 ‖ protobuf { 1: ratchet_key (33 bytes),
 *                                  2: counter, 3: previous_counter,
 *                                  4: ciphertext (AES-256-CBC) } ‖ MAC (8 bytes)
 *
 *   MAC = HMAC-SHA256(mac key, sender identity (33) ‖ receiver identity (33)
 *                               ‖ version byte ‖ protobuf)[0..8]
 *
 * Binding both identity keys into the MAC stops a message being replayed
 * into a session with a different peer (an unknown-key-share attack).
 */
import type { CryptoProvider } from '../crypto/provider.js';
import { bytesEqual, concatBytes, copyBytes } from './bytes.js';
import { PublicKey } from './curve.js';
import { ProtocolError } from './errors.js';
import { asBytes, asUint32, ProtoReader, ProtoWriter } from './wire.js';

/** The only message version this implementation speaks (libsignal's v3, pre-PQXDH). */
export const CIPHERTEXT_MESSAGE_VERSION = 3;
/** `(message version << 4) | current version`, as libsignal writes it. */
export const VERSION_BYTE = (CIPHERTEXT_MESSAGE_VERSION << 4) | CIPHERTEXT_MESSAGE_VERSION;
/** Truncated HMAC-SHA256 length. */
export const MAC_LENGTH = 8;
/** Length of a serialized (0x05-prefixed) Curve25519 public key. */
export const PUBLIC_KEY_LENGTH = 33;
const AES_BLOCK = 16;

/**
 * Checks the version nibble. libsignal reads the high nibble as the message
 * version; anything other than 3 is a different protocol (v4 is PQXDH).
 */
export function checkVersionByte(byte: number | undefined): void {
  if (byte === undefined) throw new ProtocolError('invalid-message', 'empty message');
  if (byte >> 4 !== CIPHERTEXT_MESSAGE_VERSION) {
    throw new ProtocolError('invalid-version', `unsupported message version ${byte >> 4}`);
  }
}

/** Parses a 33-byte public key from untrusted bytes: a typed error, never a crash. */
export function parsePublicKey(bytes: Uint8Array, what: string): PublicKey {
  if (bytes.length !== PUBLIC_KEY_LENGTH) {
    throw new ProtocolError('invalid-key', `${what} must be ${PUBLIC_KEY_LENGTH} bytes`);
  }
  try {
    return PublicKey.deserialize(bytes);
  } catch (cause) {
    if (ProtocolError.is(cause)) throw cause;
    throw new ProtocolError('invalid-key', `${what} is not a Curve25519 public key`, { cause });
  }
}

/** A parsed or freshly built `SignalMessage`. Holds no secret. */
export class SignalMessage {
  /**
   * The parsed ratchet key, made once per message: a DH ratchet step uses it
   * twice, and the platform provider caches its imported key per key object.
   */
  #ratchetKey: PublicKey | undefined;

  private constructor(
    /** The sender's current ratchet public key, 33 bytes as on the wire. */
    readonly senderRatchetKeyBytes: Uint8Array,
    /** Index of the message key in the sender's chain. */
    readonly counter: number,
    /** Length (last index) of the sender's previous chain; informative only. */
    readonly previousCounter: number,
    readonly ciphertext: Uint8Array,
    /** The complete message as sent: version ‖ protobuf ‖ MAC. */
    readonly serialized: Uint8Array,
  ) {}

  /** The sender ratchet key, validated. */
  senderRatchetKey(): PublicKey {
    this.#ratchetKey ??= parsePublicKey(this.senderRatchetKeyBytes, 'ratchet key');
    return this.#ratchetKey;
  }

  /** Builds and MACs a message (sender side). */
  static async create(
    crypto: CryptoProvider,
    fields: {
      readonly senderRatchetKey: Uint8Array;
      readonly counter: number;
      readonly previousCounter: number;
      readonly ciphertext: Uint8Array;
    },
    macKey: Uint8Array,
    senderIdentity: Uint8Array,
    receiverIdentity: Uint8Array,
  ): Promise<SignalMessage> {
    const body = ProtoWriter.encode((w) =>
      w
        .bytes(1, fields.senderRatchetKey)
        .uint(2, fields.counter)
        .uint(3, fields.previousCounter)
        .bytes(4, fields.ciphertext),
    );
    const unsigned = new Uint8Array(1 + body.length + MAC_LENGTH);
    unsigned[0] = VERSION_BYTE;
    unsigned.set(body, 1);
    const mac = await computeMac(
      crypto,
      macKey,
      senderIdentity,
      receiverIdentity,
      unsigned.subarray(0, 1 + body.length),
    );
    unsigned.set(mac, 1 + body.length);
    return new SignalMessage(
      fields.senderRatchetKey,
      fields.counter,
      fields.previousCounter,
      fields.ciphertext,
      unsigned,
    );
  }

  /** Parses untrusted bytes. Throws `ProtocolError` ('invalid-message', 'invalid-version', 'invalid-key'). */
  static deserialize(serialized: Uint8Array): SignalMessage {
    if (!(serialized instanceof Uint8Array)) {
      throw new ProtocolError('invalid-message', 'message must be bytes');
    }
    if (serialized.length < 1 + MAC_LENGTH) {
      throw new ProtocolError('invalid-message', 'message too short');
    }
    checkVersionByte(serialized[0]);
    // One copy of the whole message; the fields are views into it, so later
    // changes to the caller's buffer cannot reach what was parsed and MACed.
    const own = copyBytes(serialized);
    const reader: ProtoReader = new ProtoReader(
      own.subarray(1, own.length - MAC_LENGTH),
      'invalid-message',
    );
    let ratchetKey: Uint8Array | undefined;
    let counter: number | undefined;
    let previousCounter = 0;
    let ciphertext: Uint8Array | undefined;
    while (reader.more) {
      const f = reader.next();
      switch (f.field) {
        case 1:
          ratchetKey = asBytes(reader, f);
          break;
        case 2:
          counter = asUint32(reader, f);
          break;
        case 3:
          previousCounter = asUint32(reader, f);
          break;
        case 4:
          ciphertext = asBytes(reader, f);
          break;
        default:
          break; // unknown fields are skipped, as protobuf parsers do
      }
    }
    if (ratchetKey === undefined || counter === undefined || ciphertext === undefined) {
      throw new ProtocolError('invalid-message', 'SignalMessage lacks a required field');
    }
    // Reject before any key work: CBC output is always whole, non-empty blocks.
    if (ciphertext.length === 0 || ciphertext.length % AES_BLOCK !== 0) {
      throw new ProtocolError('invalid-message', 'ciphertext is not whole AES blocks');
    }
    // Validate the key now so a bad key is an 'invalid-key' at the door.
    const parsedKey = parsePublicKey(ratchetKey, 'ratchet key');
    const message = new SignalMessage(ratchetKey, counter, previousCounter, ciphertext, own);
    message.#ratchetKey = parsedKey;
    return message;
  }

  /** Checks the truncated MAC in constant time (receiver side). */
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

async function computeMac(
  crypto: CryptoProvider,
  macKey: Uint8Array,
  senderIdentity: Uint8Array,
  receiverIdentity: Uint8Array,
  message: Uint8Array,
): Promise<Uint8Array> {
  const full = await crypto.hmacSha256(
    macKey,
    concatBytes(senderIdentity, receiverIdentity, message),
  );
  return full.subarray(0, MAC_LENGTH);
}
