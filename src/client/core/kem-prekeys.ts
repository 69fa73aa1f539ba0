/**
 * This device's KEM prekeys for PQXDH (docs/protocol.md, "Post-quantum
 * sessions"), for a post-quantum device (the default; `postQuantum:
 * false` opts out): signed one-time Kyber1024 prekeys plus one signed
 * last-resort KEM prekey. The first batch goes with the registration or
 * the link completion (`initialKemPreKeys`), so the device's first bundle
 * already gives v4 sessions; later ones through `UploadPreKeysRequest`
 * fields 3 and 4, topped up like the EC one-time prekeys (account-setup.ts).
 */
import type { ProtocolContext } from '../../protocol/context.js';
import type { KeyPair } from '../../protocol/curve.js';
import { MAX_PREKEY_ID } from '../../protocol/prekeys.js';
import {
  generateKyberPreKey,
  type KyberPreKeyRecord,
} from '../../protocol/pq/kyber-prekey-record.js';
import { ClientError } from './errors.js';
import type { KemPreKeyInit, ServerApi } from './server-api.js';
import type { DeviceStore, DeviceStoreView } from './store/device-store.js';

/**
 * One-time KEM prekeys kept on the server. Fewer than the 100 EC ones: a
 * Kyber1024 prekey is 1569 + 64 bytes on the wire and about 4.8 KB stored
 * with its secret key (30 times an EC prekey), and running out costs far
 * less — the signed last-resort KEM prekey still gives a v4 session, only
 * without the one-time key's extra forward secrecy. 20 covers a burst of
 * new sessions between top-ups (the server asks for more below its low
 * threshold, 10 by default) at about 33 KB per full upload.
 */
export const KEM_PRE_KEY_BATCH = 20;

/** Settings rows; part of the persisted format. */
const NEXT_ID = 'kem-pre-keys/next-id';
const LAST_RESORT_ID = 'kem-pre-keys/last-resort-id';
/** Set once the server has accepted the last-resort key. */
const LAST_RESORT_PUBLISHED = 'kem-pre-keys/last-resort-published';

function readId(bytes: Uint8Array | undefined): number | undefined {
  if (bytes === undefined) return undefined;
  if (bytes.length !== 4) {
    throw new ClientError('invalid-record', 'stored KEM prekey id has the wrong length');
  }
  return new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0, false);
}

function idBytes(id: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, id, false);
  return out;
}

function wire(record: KyberPreKeyRecord): KemPreKeyInit {
  return {
    id: record.id,
    publicKey: record.keyPair.publicKey.serialize(),
    signature: record.signature,
  };
}

/**
 * The first KEM prekeys of a new device (registration or link), made
 * before anything is stored: one-time ids 1..`KEM_PRE_KEY_BATCH`, the
 * last-resort key right after them. Fixed ids, like the first EC prekeys:
 * a registration that failed and is tried again (with a new identity key)
 * overwrites the same rows instead of leaving keys signed by the old one.
 */
export interface InitialKemPreKeys {
  readonly oneTime: readonly KyberPreKeyRecord[];
  readonly lastResort: KyberPreKeyRecord;
}

/** Generates the first KEM prekeys of a new device, signed by `identity`. */
export async function initialKemPreKeys(
  ctx: ProtocolContext,
  identity: KeyPair,
): Promise<InitialKemPreKeys> {
  const oneTime: KyberPreKeyRecord[] = [];
  for (let id = 1; id <= KEM_PRE_KEY_BATCH; id++) {
    oneTime.push(await generateKyberPreKey(ctx, identity, id));
  }
  const lastResort = await generateKyberPreKey(ctx, identity, KEM_PRE_KEY_BATCH + 1);
  return { oneTime, lastResort };
}

/** The wire form of the first KEM prekeys (`RegisterRequest` / `CompleteLinkRequest`). */
export function initialKemUpload(keys: InitialKemPreKeys): {
  kemPreKeys: KemPreKeyInit[];
  lastResortKemPreKey: KemPreKeyInit;
} {
  return { kemPreKeys: keys.oneTime.map(wire), lastResortKemPreKey: wire(keys.lastResort) };
}

/**
 * Stores the first KEM prekeys inside the caller's transaction, with the
 * id counter after them. `published`: the server has accepted them (a link
 * stores them only after `CompleteLink`); a registration stores them
 * before its request and marks them published with the account record.
 */
export async function storeInitialKemPreKeys(
  tx: DeviceStoreView,
  keys: InitialKemPreKeys,
  published: boolean,
): Promise<void> {
  for (const record of keys.oneTime) {
    await tx.protocol.kyberPreKeys.storeKyberPreKey(record.id, record);
  }
  await tx.protocol.kyberPreKeys.storeLastResortKyberPreKey(keys.lastResort.id, keys.lastResort);
  await tx.settings.put(LAST_RESORT_ID, idBytes(keys.lastResort.id));
  await tx.settings.put(NEXT_ID, idBytes(keys.lastResort.id + 1));
  if (published) await markLastResortPublished(tx);
}

/**
 * Forgets the KEM prekey counters of an earlier, failed registration
 * attempt in this profile, inside the caller's transaction: a registration
 * tried again without KEM prekeys has a new identity key, and a later
 * top-up must not publish a last-resort key the old one signed (the
 * server would refuse it for good). The old rows are overwritten when
 * ids start again from 1.
 */
export async function clearKemPreKeyCounters(tx: DeviceStoreView): Promise<void> {
  for (const name of [NEXT_ID, LAST_RESORT_ID, LAST_RESORT_PUBLISHED]) {
    await tx.settings.delete(name);
  }
}

/** Records that the server holds this device's last-resort KEM prekey. */
export async function markLastResortPublished(tx: DeviceStoreView): Promise<void> {
  await tx.settings.put(LAST_RESORT_PUBLISHED, new Uint8Array([1]));
}

/** What one KEM top-up generated and stored, to upload. */
export interface KemUpload {
  readonly oneTime: readonly KemPreKeyInit[];
  readonly lastResort: KemPreKeyInit | undefined;
}

/**
 * Generates and stores `count` one-time KEM prekeys, plus a last-resort one
 * when this device has none yet. Ids come from one counter for both kinds,
 * so an id is never reused (a reused id would make a peer's v4 prekey
 * message decapsulate with the wrong key) and the last-resort id is never
 * among the one-time ids (the server refuses that).
 */
export async function makeKemPreKeys(
  ctx: ProtocolContext,
  tx: DeviceStoreView,
  count: number,
): Promise<KemUpload> {
  const identity = await tx.protocol.identity.getIdentityKeyPair();
  let next = readId(await tx.settings.get(NEXT_ID)) ?? 1;
  const take = (): number => {
    const id = next;
    next = (next % MAX_PREKEY_ID) + 1;
    return id;
  };
  let lastResort: KemPreKeyInit | undefined;
  if (readId(await tx.settings.get(LAST_RESORT_ID)) === undefined) {
    const record = await generateKyberPreKey(ctx, identity, take());
    await tx.protocol.kyberPreKeys.storeLastResortKyberPreKey(record.id, record);
    await tx.settings.put(LAST_RESORT_ID, idBytes(record.id));
    lastResort = wire(record);
  }
  const oneTime: KemPreKeyInit[] = [];
  for (let i = 0; i < count; i++) {
    const record = await generateKyberPreKey(ctx, identity, take());
    await tx.protocol.kyberPreKeys.storeKyberPreKey(record.id, record);
    oneTime.push(wire(record));
  }
  await tx.settings.put(NEXT_ID, idBytes(next));
  return { oneTime, lastResort };
}

/**
 * Refills the server's one-time KEM prekeys to `target` (and publishes the
 * last-resort one if this device never has), reading the count from the
 * server now, for the reasons `refillPreKeys` gives. Keys are committed
 * locally before the upload: a key the server hands out must be one this
 * device can open. Callers run refills one at a time. Returns how many
 * keys (of both kinds) were uploaded.
 */
export async function refillKemPreKeys(
  ctx: ProtocolContext,
  store: DeviceStore,
  api: ServerApi,
  target: number = KEM_PRE_KEY_BATCH,
): Promise<number> {
  const { kemRemaining } = await api.preKeyStatus();
  const count = Math.max(0, target - kemRemaining);
  const upload = await store.transaction(async (tx) => {
    const made = await makeKemPreKeys(ctx, tx, count);
    if (made.lastResort !== undefined || (await tx.settings.get(LAST_RESORT_PUBLISHED))) {
      return made;
    }
    // Made before but its upload failed (connection lost): publish it now.
    const id = readId(await tx.settings.get(LAST_RESORT_ID));
    const record =
      id === undefined ? undefined : await tx.protocol.kyberPreKeys.loadKyberPreKey(id);
    return { ...made, lastResort: record === undefined ? undefined : wire(record) };
  });
  if (upload.oneTime.length === 0 && upload.lastResort === undefined) return 0;
  await api.uploadKemPreKeys(upload.oneTime, upload.lastResort);
  if (upload.lastResort !== undefined) await markLastResortPublished(store);
  return upload.oneTime.length + (upload.lastResort === undefined ? 0 : 1);
}
