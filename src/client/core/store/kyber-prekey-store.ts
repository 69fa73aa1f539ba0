/**
 * The KEM prekey store (src/protocol/stores/kyber-prekey-store.ts) over a
 * `KeyValueView`, so every device-store backend (memory, SQLite, IndexedDB)
 * gets it from this one implementation, inside the same transaction as the
 * session a v4 prekey message creates.
 *
 * Row format (part of the persisted format): one flag byte — 1 for the
 * last-resort key, 0 for a one-time key — then the record's own bytes. Uses
 * of a last-resort key are rows of a second table keyed by
 * (KEM id, signed prekey id, base key), so a replayed prekey message is
 * refused across restarts, not only within one process.
 */
import { ProtocolError } from '../../../protocol/errors.js';
import { KyberPreKeyRecord } from '../../../protocol/pq/kyber-prekey-record.js';
import type { KyberPreKeyStore } from '../../../protocol/stores/kyber-prekey-store.js';
import { ClientError } from '../errors.js';
import type { KeyValueView } from './kv.js';

/** Table names; part of the persisted format. */
export const KYBER_TABLES = {
  keys: 'kyber-pre-keys',
  lastResortUses: 'kyber-pre-key-uses',
} as const;

const ONE_TIME = 0;
const LAST_RESORT = 1;
const EMPTY = new Uint8Array(0);

function idKey(id: number): string {
  // Fixed width so listing sorts numerically.
  return id.toString().padStart(10, '0');
}

function hex(bytes: Uint8Array): string {
  let out = '';
  for (const b of bytes) out += b.toString(16).padStart(2, '0');
  return out;
}

function row(kind: number, record: KyberPreKeyRecord): Uint8Array {
  const bytes = record.serialize();
  const out = new Uint8Array(bytes.length + 1);
  out[0] = kind;
  out.set(bytes, 1);
  return out;
}

function kindOf(bytes: Uint8Array): number {
  const kind = bytes[0];
  if (kind !== ONE_TIME && kind !== LAST_RESORT) {
    throw new ClientError('invalid-record', 'stored KEM prekey has an unknown kind');
  }
  return kind;
}

/** The KEM prekey store over one view. */
export function kyberPreKeyStore(view: KeyValueView): KyberPreKeyStore {
  return {
    async loadKyberPreKey(id) {
      const bytes = await view.get(KYBER_TABLES.keys, idKey(id));
      if (bytes === undefined) return undefined;
      kindOf(bytes);
      return KyberPreKeyRecord.deserialize(bytes.subarray(1));
    },
    storeKyberPreKey: (id, record) => view.put(KYBER_TABLES.keys, idKey(id), row(ONE_TIME, record)),
    storeLastResortKyberPreKey: (id, record) =>
      view.put(KYBER_TABLES.keys, idKey(id), row(LAST_RESORT, record)),
    async markKyberPreKeyUsed(id, signedPreKeyId, baseKey) {
      const bytes = await view.get(KYBER_TABLES.keys, idKey(id));
      if (bytes === undefined) {
        throw new ProtocolError('invalid-prekey-id', 'unknown KEM prekey id');
      }
      if (kindOf(bytes) === ONE_TIME) {
        await view.delete(KYBER_TABLES.keys, idKey(id));
        return;
      }
      const use = `${idKey(id)}/${idKey(signedPreKeyId)}/${hex(baseKey)}`;
      if ((await view.get(KYBER_TABLES.lastResortUses, use)) !== undefined) {
        throw new ProtocolError(
          'duplicate-message',
          'last-resort KEM prekey reused with this base key',
        );
      }
      await view.put(KYBER_TABLES.lastResortUses, use, EMPTY);
    },
    async removeKyberPreKey(id) {
      await view.delete(KYBER_TABLES.keys, idKey(id));
      // A replaced last-resort key's uses can never match again (new id).
      for (const entry of await view.list(KYBER_TABLES.lastResortUses, `${idKey(id)}/`)) {
        await view.delete(KYBER_TABLES.lastResortUses, entry.key);
      }
    },
  };
}
