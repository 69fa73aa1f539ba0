/**
 * The one conformance suite every `SenderKeyStore` backend runs (memory
 * here; SQLite and IndexedDB backends call it from their own tests). A
 * backend passes when it behaves as src/protocol/stores/sender-key-store.ts
 * documents: keyed by (sender name, device id, distribution id), and records
 * are values — a loaded copy changes nothing until it is stored back.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { nodeCrypto } from '../../src/crypto/node.js';
import { systemClock } from '../../src/crypto/provider.js';
import { protocolAddress } from '../../src/protocol/address.js';
import type { ProtocolContext } from '../../src/protocol/context.js';
import {
  createSenderKeyDistributionMessage,
  groupDecrypt,
  groupEncrypt,
  processSenderKeyDistributionMessage,
} from '../../src/protocol/group-cipher.js';
import { SenderKeyRecord } from '../../src/protocol/sender-key-record.js';
import type { SenderKeyStore } from '../../src/protocol/stores/sender-key-store.js';

const ctx: ProtocolContext = {
  crypto: nodeCrypto,
  random: (n) => nodeCrypto.randomBytes(n),
  clock: systemClock,
};
const DIST_A = '0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d';
const DIST_B = 'f0e1d2c3-b4a5-4968-8776-655443322110';
const alice = protocolAddress('alice', 1);

/** A real record with a chain, a signing key and (for receivers) skipped keys. */
async function sampleRecords(): Promise<{ sending: SenderKeyRecord; receiving: SenderKeyRecord }> {
  const scratchSender = new MemoryScratch();
  const scratchReceiver = new MemoryScratch();
  const skdm = await createSenderKeyDistributionMessage(ctx, scratchSender, alice, DIST_A);
  await processSenderKeyDistributionMessage(ctx, scratchReceiver, alice, skdm);
  let last: Uint8Array = new Uint8Array();
  for (let i = 0; i < 4; i++)
    last = await groupEncrypt(ctx, scratchSender, alice, DIST_A, Uint8Array.of(i));
  await groupDecrypt(ctx, scratchReceiver, alice, last);
  const sending = await scratchSender.loadSenderKey(alice, DIST_A);
  const receiving = await scratchReceiver.loadSenderKey(alice, DIST_A);
  assert.ok(sending !== undefined && receiving !== undefined);
  return { sending, receiving };
}

/** A minimal store for building samples, independent of the backend under test. */
class MemoryScratch implements SenderKeyStore {
  readonly #map = new Map<string, Uint8Array>();
  async storeSenderKey(
    sender: { name: string; deviceId: number },
    id: string,
    record: SenderKeyRecord,
  ): Promise<void> {
    this.#map.set(`${sender.name}.${sender.deviceId}/${id}`, record.serialize());
  }
  async loadSenderKey(
    sender: { name: string; deviceId: number },
    id: string,
  ): Promise<SenderKeyRecord | undefined> {
    const bytes = this.#map.get(`${sender.name}.${sender.deviceId}/${id}`);
    return bytes === undefined ? undefined : SenderKeyRecord.deserialize(bytes);
  }
}

/** Runs the suite against fresh stores from `makeStore`. */
export function runSenderKeyStoreConformance(
  label: string,
  makeStore: () => Promise<SenderKeyStore> | SenderKeyStore,
): void {
  describe(`SenderKeyStore conformance: ${label}`, () => {
    it('returns undefined for a record never stored', async () => {
      const store = await makeStore();
      assert.equal(await store.loadSenderKey(alice, DIST_A), undefined);
    });

    it('returns what was stored, byte for byte', async () => {
      const store = await makeStore();
      const { sending, receiving } = await sampleRecords();
      await store.storeSenderKey(alice, DIST_A, sending);
      await store.storeSenderKey(protocolAddress('bob', 1), DIST_A, receiving);
      assert.deepEqual(
        (await store.loadSenderKey(alice, DIST_A))?.serialize(),
        sending.serialize(),
      );
      assert.deepEqual(
        (await store.loadSenderKey(protocolAddress('bob', 1), DIST_A))?.serialize(),
        receiving.serialize(),
      );
    });

    it('keys records by sender name, device id and distribution id', async () => {
      const store = await makeStore();
      const { sending, receiving } = await sampleRecords();
      await store.storeSenderKey(alice, DIST_A, sending);
      assert.equal(await store.loadSenderKey(alice, DIST_B), undefined);
      assert.equal(await store.loadSenderKey(protocolAddress('alice', 2), DIST_A), undefined);
      assert.equal(await store.loadSenderKey(protocolAddress('alicf', 1), DIST_A), undefined);
      // Names that could collide in a naive "name.device" key.
      await store.storeSenderKey(protocolAddress('a.1', 2), DIST_A, receiving);
      assert.equal(await store.loadSenderKey(protocolAddress('a', 12), DIST_A), undefined);
    });

    it('replaces a record on a second store', async () => {
      const store = await makeStore();
      const { sending, receiving } = await sampleRecords();
      await store.storeSenderKey(alice, DIST_A, sending);
      await store.storeSenderKey(alice, DIST_A, receiving);
      assert.deepEqual(
        (await store.loadSenderKey(alice, DIST_A))?.serialize(),
        receiving.serialize(),
      );
    });

    it('hands out copies: changing a loaded record changes nothing until stored', async () => {
      const store = await makeStore();
      const { sending } = await sampleRecords();
      const original = sending.serialize();
      await store.storeSenderKey(alice, DIST_A, sending);
      // A change to the object that was stored must not reach the store.
      sending.currentState()?.setChain(999, new Uint8Array(32));
      assert.deepEqual((await store.loadSenderKey(alice, DIST_A))?.serialize(), original);
      // Nor a change to a loaded copy.
      const loaded = await store.loadSenderKey(alice, DIST_A);
      loaded?.currentState()?.setChain(1000, new Uint8Array(32).fill(1));
      loaded?.currentState()?.addSkipped(5, new Uint8Array(32).fill(2));
      assert.deepEqual((await store.loadSenderKey(alice, DIST_A))?.serialize(), original);
    });

    it('supports a full group exchange through the store', async () => {
      const senderStore = await makeStore();
      const receiverStore = await makeStore();
      const skdm = await createSenderKeyDistributionMessage(ctx, senderStore, alice, DIST_B);
      await processSenderKeyDistributionMessage(ctx, receiverStore, alice, skdm);
      const cts = [];
      for (let i = 0; i < 3; i++)
        cts.push(await groupEncrypt(ctx, senderStore, alice, DIST_B, Uint8Array.of(i)));
      for (const i of [2, 0, 1]) {
        assert.deepEqual(
          await groupDecrypt(ctx, receiverStore, alice, cts[i] ?? new Uint8Array()),
          Uint8Array.of(i),
        );
      }
    });
  });
}
