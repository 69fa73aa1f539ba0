/**
 * Encryption at rest for any `KeyValueBackend`: every value is sealed with
 * AES-256-GCM under a `CryptoKey` the caller holds (in the browser, a
 * non-extractable key kept in IndexedDB, so identity keys, sessions and
 * messages on disk are ciphertext, and the key itself cannot be copied out
 * of the profile — only used by this origin in this browser).
 *
 * Table names and keys stay plain: `list` needs them for prefix ranges, and
 * they hold account names and message ids, not secrets.
 *
 * Sealed format: `0x01 || iv (12) || ciphertext || tag (16)`, with the
 * additional data `"quintet-at-rest/v1" 0x00 table 0x00 key`. Binding the
 * slot in the AAD stops someone with write access to the files from moving a
 * valid ciphertext to another key (e.g. replacing a contact's identity key
 * with another record, or one chat's message with another's).
 */
import { ClientError } from '../core/errors.js';
import type { KeyValueBackend, KeyValueEntry, KeyValueWrite } from '../core/store/kv.js';

const FORMAT_VERSION = 1;
const IV_LENGTH = 12;
const TAG_LENGTH = 16;
const AAD_LABEL = 'quintet-at-rest/v1';
const encoder = new TextEncoder();

function additionalData(table: string, key: string): Uint8Array<ArrayBuffer> {
  return new Uint8Array(encoder.encode(`${AAD_LABEL}\u0000${table}\u0000${key}`));
}

/** A `KeyValueBackend` that stores only AES-GCM ciphertext in `inner`. */
export class EncryptedBackend implements KeyValueBackend {
  constructor(
    private readonly inner: KeyValueBackend,
    private readonly key: CryptoKey,
  ) {}

  async get(table: string, key: string): Promise<Uint8Array | undefined> {
    const sealed = await this.inner.get(table, key);
    return sealed === undefined ? undefined : this.#open(table, key, sealed);
  }

  async list(table: string, prefix: string): Promise<KeyValueEntry[]> {
    const entries = await this.inner.list(table, prefix);
    return Promise.all(
      entries.map(async (entry) => ({
        key: entry.key,
        value: await this.#open(table, entry.key, entry.value),
      })),
    );
  }

  async listPage(
    table: string,
    prefix: string,
    after: string | undefined,
    limit: number,
  ): Promise<KeyValueEntry[]> {
    const entries = await this.inner.listPage(table, prefix, after, limit);
    return Promise.all(
      entries.map(async (entry) => ({
        key: entry.key,
        value: await this.#open(table, entry.key, entry.value),
      })),
    );
  }

  async commit(writes: readonly KeyValueWrite[]): Promise<void> {
    // Seal everything first: the inner commit must stay one synchronous step
    // (an IndexedDB transaction would auto-commit while we await WebCrypto).
    const sealed = await Promise.all(
      writes.map(async (write) =>
        write.value === undefined
          ? write
          : { ...write, value: await this.#seal(write.table, write.key, write.value) },
      ),
    );
    await this.inner.commit(sealed);
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  async #seal(table: string, key: string, plaintext: Uint8Array): Promise<Uint8Array> {
    // A random 96-bit IV per write: a profile sees far fewer than the 2^32
    // writes after which random IVs under one key become a collision risk.
    const iv = crypto.getRandomValues(new Uint8Array(IV_LENGTH));
    const ciphertext = await crypto.subtle.encrypt(
      { name: 'AES-GCM', iv, additionalData: additionalData(table, key) },
      this.key,
      new Uint8Array(plaintext),
    );
    const out = new Uint8Array(1 + IV_LENGTH + ciphertext.byteLength);
    out[0] = FORMAT_VERSION;
    out.set(iv, 1);
    out.set(new Uint8Array(ciphertext), 1 + IV_LENGTH);
    return out;
  }

  async #open(table: string, key: string, sealed: Uint8Array): Promise<Uint8Array> {
    if (sealed.length < 1 + IV_LENGTH + TAG_LENGTH || sealed[0] !== FORMAT_VERSION) {
      throw new ClientError('invalid-record', `a stored ${table} value is not sealed data`);
    }
    try {
      const plaintext = await crypto.subtle.decrypt(
        {
          name: 'AES-GCM',
          iv: sealed.slice(1, 1 + IV_LENGTH),
          additionalData: additionalData(table, key),
        },
        this.key,
        sealed.slice(1 + IV_LENGTH),
      );
      return new Uint8Array(plaintext);
    } catch (error) {
      // Wrong key, a flipped bit, or a value moved from another slot.
      throw new ClientError('invalid-record', `a stored ${table} value fails authentication`, {
        cause: error,
      });
    }
  }
}
