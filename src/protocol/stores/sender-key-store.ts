/**
 * Where sender key records live, one per (sender address, distribution id).
 * Backends (memory here, SQLite/IndexedDB elsewhere) all pass
 * test/protocol/sender-key-store-conformance.ts.
 */
import { addressKey, type ProtocolAddress } from '../address.js';
import { SenderKeyRecord } from '../sender-key-record.js';

/**
 * The sender key store contract.
 *
 * - `loadSenderKey` returns an independent copy: changing it must not change
 *   what is stored until `storeSenderKey` is called. The group cipher relies
 *   on this to leave the store untouched when a decryption fails.
 * - Distribution ids arrive in canonical (lower-case) UUID form.
 * - The protocol core never calls a store concurrently for one sender; the
 *   caller serializes work per sender (one queue per peer).
 */
export interface SenderKeyStore {
  storeSenderKey(
    sender: ProtocolAddress,
    distributionId: string,
    record: SenderKeyRecord,
  ): Promise<void>;
  loadSenderKey(
    sender: ProtocolAddress,
    distributionId: string,
  ): Promise<SenderKeyRecord | undefined>;
}

/**
 * An in-memory `SenderKeyStore` that keeps serialized bytes, so every load is
 * a fresh copy and the persisted format is exercised on every operation.
 */
export class MemorySenderKeyStore implements SenderKeyStore {
  readonly #records = new Map<string, Uint8Array>();

  async storeSenderKey(
    sender: ProtocolAddress,
    distributionId: string,
    record: SenderKeyRecord,
  ): Promise<void> {
    this.#records.set(MemorySenderKeyStore.#key(sender, distributionId), record.serialize());
  }

  async loadSenderKey(
    sender: ProtocolAddress,
    distributionId: string,
  ): Promise<SenderKeyRecord | undefined> {
    const bytes = this.#records.get(MemorySenderKeyStore.#key(sender, distributionId));
    return bytes === undefined ? undefined : SenderKeyRecord.deserialize(bytes);
  }

  /** Number of records held (for tests and diagnostics). */
  get size(): number {
    return this.#records.size;
  }

  /**
   * A byte-for-byte copy of every stored record keyed by
   * `name.device/distributionId`, so tests can assert that a failed operation
   * changed nothing.
   */
  snapshot(): Map<string, Uint8Array> {
    return new Map([...this.#records].map(([key, bytes]) => [key, bytes.slice()]));
  }

  static #key(sender: ProtocolAddress, distributionId: string): string {
    return `${addressKey(sender)}/${distributionId}`;
  }
}
