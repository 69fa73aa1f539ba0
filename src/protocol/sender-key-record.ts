/**
 * The state a device keeps per (sender, distribution id): up to five sender
 * chains, newest first, as libsignal's `SenderKeyRecord` does. A chain is
 * replaced when its sender rotates keys; keeping the last few lets messages
 * sent just before a rotation still decrypt.
 *
 * Persisted as `quintet.protocol.SenderKeyRecordData` (Quintet's own
 * protobuf; see proto/quintet/protocol/sender-keys.proto), encoded by hand
 * with `wire.ts` because a record is loaded and saved on every group message
 * (a test checks the bytes against the generated schema). Records are
 * values: the store returns a fresh copy on every load, and a caller changes a
 * copy and stores it back only when the whole operation succeeded.
 */
import type { PrivateKey, PublicKey } from './curve.js';
import { ProtocolError } from './errors.js';
import { SENDER_CHAIN_KEY_LENGTH } from './sender-key-chain.js';
import { cachedSigningKeyPair, cachedSigningPublicKey } from './sender-key-key-cache.js';
import { asBytes, asUint32, ProtoReader, ProtoWriter } from './wire.js';

/** libsignal `MAX_SENDER_KEY_STATES`: chains kept per record. */
export const MAX_SENDER_KEY_STATES = 5;
/** libsignal `MAX_MESSAGE_KEYS`: skipped message keys kept per chain, oldest dropped first. */
export const MAX_SENDER_MESSAGE_KEYS = 2000;
/** libsignal `MAX_FORWARD_JUMPS`: how far ahead of the chain a message may be. */
export const MAX_SENDER_FORWARD_JUMPS = 25_000;
/** The persisted layout's version (`SenderKeyRecordData.format_version`). */
export const SENDER_KEY_RECORD_FORMAT = 1;

const INSPECT = Symbol.for('nodejs.util.inspect.custom');
const EMPTY: Uint8Array = new Uint8Array(0);
/** One skipped key in the persisted table: iteration (4, big-endian) ‖ seed (32). */
const SKIPPED_ENTRY_LENGTH = 4 + SENDER_CHAIN_KEY_LENGTH;

function corrupt(what: string, cause?: unknown): ProtocolError {
  return new ProtocolError('invalid-state', `stored sender key record: ${what}`, { cause });
}

/**
 * One sender chain. Mutable on purpose: decryption advances it in place on a
 * record copy that is only stored after the whole decryption succeeds.
 */
export class SenderKeyState {
  /** Skipped message-key seeds by iteration; a `Map` keeps insertion (= age) order. */
  readonly #skipped: Map<number, Uint8Array>;
  #chainIteration: number;
  #chainKey: Uint8Array;

  constructor(
    readonly messageVersion: number,
    readonly chainId: number,
    chainIteration: number,
    chainKey: Uint8Array,
    readonly signingPublic: PublicKey,
    /** Present only on the sender's own chain. */
    readonly signingPrivate: PrivateKey | undefined,
    skipped: Map<number, Uint8Array> = new Map(),
  ) {
    this.#chainIteration = chainIteration;
    this.#chainKey = chainKey;
    this.#skipped = skipped;
  }

  /** The iteration the chain key belongs to: the next message to send or expect. */
  get chainIteration(): number {
    return this.#chainIteration;
  }

  /** The current 32-byte chain key. Secret. */
  get chainKey(): Uint8Array {
    return this.#chainKey;
  }

  /** Number of skipped message keys held. */
  get skippedCount(): number {
    return this.#skipped.size;
  }

  /** Moves the chain to `iteration` with `chainKey`. */
  setChain(iteration: number, chainKey: Uint8Array): void {
    this.#chainIteration = iteration;
    this.#chainKey = chainKey;
  }

  /** Keeps the seed of a message not yet received; drops the oldest beyond the limit. */
  addSkipped(iteration: number, seed: Uint8Array): void {
    this.#skipped.set(iteration, seed);
    while (this.#skipped.size > MAX_SENDER_MESSAGE_KEYS) {
      const oldest = this.#skipped.keys().next();
      if (oldest.done === true) break;
      this.#skipped.delete(oldest.value);
    }
  }

  /** Removes and returns the seed of a skipped iteration (each key is usable once). */
  takeSkipped(iteration: number): Uint8Array | undefined {
    const seed = this.#skipped.get(iteration);
    if (seed !== undefined) this.#skipped.delete(iteration);
    return seed;
  }

  /** @internal Writes the `SenderKeyStateData` fields (zero values omitted, as proto3 does). */
  encodeInto(w: ProtoWriter): void {
    if (this.messageVersion !== 0) w.uint(1, this.messageVersion);
    if (this.chainId !== 0) w.uint(2, this.chainId);
    if (this.#chainIteration !== 0) w.uint(3, this.#chainIteration);
    w.bytes(4, this.#chainKey);
    w.bytes(5, this.signingPublic.serialize());
    if (this.signingPrivate !== undefined) w.bytes(6, this.signingPrivate.toStorageBytes());
    if (this.#skipped.size > 0) {
      const table = new Uint8Array(this.#skipped.size * SKIPPED_ENTRY_LENGTH);
      const view = new DataView(table.buffer);
      let offset = 0;
      for (const [iteration, seed] of this.#skipped) {
        view.setUint32(offset, iteration);
        table.set(seed, offset + 4);
        offset += SKIPPED_ENTRY_LENGTH;
      }
      w.bytes(7, table);
    }
  }

  /** @internal Parses and checks one persisted `SenderKeyStateData`. */
  static decode(bytes: Uint8Array): SenderKeyState {
    const reader = new ProtoReader(bytes, 'invalid-state');
    let messageVersion = 0;
    let chainId = 0;
    let chainIteration = 0;
    let chainSeed = EMPTY;
    let signingPublicBytes = EMPTY;
    let signingPrivateBytes = EMPTY;
    let table = EMPTY;
    while (reader.more) {
      const f = reader.next();
      switch (f.field) {
        case 1:
          messageVersion = asUint32(reader, f);
          break;
        case 2:
          chainId = asUint32(reader, f);
          break;
        case 3:
          chainIteration = asUint32(reader, f);
          break;
        case 4:
          chainSeed = asBytes(reader, f);
          break;
        case 5:
          signingPublicBytes = asBytes(reader, f);
          break;
        case 6:
          signingPrivateBytes = asBytes(reader, f);
          break;
        case 7:
          table = asBytes(reader, f);
          break;
        default:
          break;
      }
    }
    if (chainSeed.length !== SENDER_CHAIN_KEY_LENGTH) throw corrupt('chain key length');
    if (table.length % SKIPPED_ENTRY_LENGTH !== 0) throw corrupt('skipped key table length');
    let signingPublic: PublicKey;
    let signingPrivate: PrivateKey | undefined;
    try {
      if (signingPrivateBytes.length === 0) {
        signingPublic = cachedSigningPublicKey(signingPublicBytes);
      } else {
        const pair = cachedSigningKeyPair(signingPublicBytes, signingPrivateBytes);
        signingPublic = pair.publicKey;
        signingPrivate = pair.privateKey;
      }
    } catch (cause) {
      throw corrupt('signing key', cause);
    }
    const skipped = new Map<number, Uint8Array>();
    const view = new DataView(table.buffer, table.byteOffset, table.byteLength);
    for (let offset = 0; offset < table.length; offset += SKIPPED_ENTRY_LENGTH) {
      skipped.set(view.getUint32(offset), table.slice(offset + 4, offset + SKIPPED_ENTRY_LENGTH));
    }
    if (skipped.size > MAX_SENDER_MESSAGE_KEYS) throw corrupt('too many skipped keys');
    return new SenderKeyState(
      messageVersion,
      chainId,
      chainIteration,
      chainSeed.slice(),
      signingPublic,
      signingPrivate,
      skipped,
    );
  }

  /** Names the chain and its position only. */
  toString(): string {
    return `SenderKeyState(chain ${this.chainId}, iteration ${this.#chainIteration})`;
  }

  /** JSON carries no key material. */
  toJSON(): Record<string, unknown> {
    return { chainId: this.chainId, chainIteration: this.#chainIteration };
  }

  /** `util.inspect` (console.log) shows the same as `toString`. */
  [INSPECT](): string {
    return this.toString();
  }
}

/**
 * All sender chains known for one (sender, distribution id), newest first.
 * Prints nothing secret.
 */
export class SenderKeyRecord {
  readonly #states: SenderKeyState[];

  private constructor(states: SenderKeyState[]) {
    this.#states = states;
  }

  /** A record with no chains (what a receiver starts from). */
  static empty(): SenderKeyRecord {
    return new SenderKeyRecord([]);
  }

  /** Parses a persisted record; anything malformed is `ProtocolError('invalid-state')`. */
  static deserialize(bytes: Uint8Array): SenderKeyRecord {
    const reader = new ProtoReader(bytes, 'invalid-state');
    let format = 0;
    const states: SenderKeyState[] = [];
    while (reader.more) {
      const f = reader.next();
      if (f.field === 1) {
        format = asUint32(reader, f);
      } else if (f.field === 2) {
        if (states.length === MAX_SENDER_KEY_STATES) throw corrupt('too many states');
        states.push(SenderKeyState.decode(asBytes(reader, f)));
      }
    }
    if (format !== SENDER_KEY_RECORD_FORMAT) throw corrupt(`unknown format version ${format}`);
    return new SenderKeyRecord(states);
  }

  /** The persisted bytes. */
  serialize(): Uint8Array {
    const states = this.#states;
    return ProtoWriter.encode((writer) => {
      writer.uint(1, SENDER_KEY_RECORD_FORMAT);
      for (const state of states) writer.message(2, (w) => state.encodeInto(w));
    });
  }

  /** Number of chains held (0..5). */
  get stateCount(): number {
    return this.#states.length;
  }

  /** Chain ids, newest first: safe to log. */
  chainIds(): number[] {
    return this.#states.map((state) => state.chainId);
  }

  /** The newest chain: the one a sender encrypts with. */
  currentState(): SenderKeyState | undefined {
    return this.#states[0];
  }

  /** The chain a received message names, if still held. */
  stateForChainId(chainId: number): SenderKeyState | undefined {
    return this.#states.find((state) => state.chainId === chainId);
  }

  /**
   * Adds a chain as the newest, following libsignal's
   * `add_sender_key_state`: a chain already held with the same id and signing
   * key is kept as it is (moved to the front), so a repeated distribution
   * message cannot rewind a chain and re-open used message keys; a chain with
   * the same id but another signing key is dropped; the oldest chains go
   * beyond five.
   */
  addState(state: SenderKeyState): void {
    const existingIndex = this.#states.findIndex(
      (held) => held.chainId === state.chainId && held.signingPublic.equals(state.signingPublic),
    );
    const existing = existingIndex >= 0 ? this.#states.splice(existingIndex, 1)[0] : undefined;
    for (let i = this.#states.length - 1; i >= 0; i--) {
      if (this.#states[i]?.chainId === state.chainId) this.#states.splice(i, 1);
    }
    while (this.#states.length >= MAX_SENDER_KEY_STATES) this.#states.pop();
    this.#states.unshift(existing ?? state);
  }

  /** Names the chain ids only. */
  toString(): string {
    return `SenderKeyRecord(chains ${this.chainIds().join(', ')})`;
  }

  /** JSON carries no key material. */
  toJSON(): Record<string, unknown> {
    return { chainIds: this.chainIds() };
  }

  /** `util.inspect` (console.log) shows the same as `toString`. */
  [INSPECT](): string {
    return this.toString();
  }
}
