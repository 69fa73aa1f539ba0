/**
 * The client's KEM prekey pieces without a server: the key-value KEM prekey
 * store's bad-input cases, and the top-up's id and last-resort bookkeeping.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ClientError } from '../../src/client/core/errors.js';
import { KEM_PRE_KEY_BATCH, refillKemPreKeys } from '../../src/client/core/kem-prekeys.js';
import type { KemPreKeyInit, ServerApi } from '../../src/client/core/server-api.js';
import { createDeviceStore } from '../../src/client/core/store/device-store.js';
import { KYBER_TABLES } from '../../src/client/core/store/kyber-prekey-store.js';
import { MemoryBackend } from '../../src/client/core/store/memory-backend.js';
import { generateSigningKeyPair } from '../../src/protocol/curve.js';
import { ProtocolError } from '../../src/protocol/errors.js';
import { generateKyberPreKey } from '../../src/protocol/pq/kyber-prekey-record.js';
import { ctx } from './helpers/clients.js';

async function device() {
  const backend = new MemoryBackend();
  const store = createDeviceStore(backend);
  const identity = await generateSigningKeyPair(ctx.crypto, ctx.random);
  await store.protocol.identity.setLocalIdentity(identity, 77);
  return { backend, store, identity };
}

interface Upload {
  readonly oneTime: readonly KemPreKeyInit[];
  readonly lastResort: KemPreKeyInit | undefined;
}

/** A fake server keeping only the one-time count; `fail` makes the next upload throw. */
function fakeApi(state: { remaining: number; fail: boolean; uploads: Upload[] }): ServerApi {
  return {
    preKeyStatus: () =>
      Promise.resolve({ remaining: 100, threshold: 10, kemRemaining: state.remaining }),
    uploadKemPreKeys: (oneTime: readonly KemPreKeyInit[], lastResort?: KemPreKeyInit) => {
      if (state.fail) {
        state.fail = false;
        return Promise.reject(new ClientError('closed', 'connection lost'));
      }
      state.uploads.push({ oneTime, lastResort });
      state.remaining += oneTime.length;
      return Promise.resolve();
    },
  } as unknown as ServerApi;
}

describe('client KEM prekeys', () => {
  it('a stored row of an unknown kind is a typed error and changes nothing', async () => {
    const { backend, store, identity } = await device();
    const record = await generateKyberPreKey(ctx, identity, 5);
    await store.protocol.kyberPreKeys.storeKyberPreKey(5, record);
    const row = await backend.get(KYBER_TABLES.keys, '0000000005');
    assert.ok(row !== undefined);
    const bad = row.slice();
    bad[0] = 7;
    await backend.commit([{ table: KYBER_TABLES.keys, key: '0000000005', value: bad }]);
    const kyber = store.protocol.kyberPreKeys;
    await assert.rejects(kyber.loadKyberPreKey(5), (e: unknown) =>
      ClientError.is(e, 'invalid-record'),
    );
    await assert.rejects(kyber.markKyberPreKeyUsed(5, 1, new Uint8Array(33)), (e: unknown) =>
      ClientError.is(e, 'invalid-record'),
    );
    assert.deepEqual(await backend.get(KYBER_TABLES.keys, '0000000005'), bad);
  });

  it('an unknown id and an empty row are refused without changes', async () => {
    const { backend, store } = await device();
    await assert.rejects(
      store.protocol.kyberPreKeys.markKyberPreKeyUsed(9, 1, new Uint8Array(33)),
      (e: unknown) => ProtocolError.is(e, 'invalid-prekey-id'),
    );
    await backend.commit([
      { table: KYBER_TABLES.keys, key: '0000000009', value: new Uint8Array(0) },
    ]);
    await assert.rejects(store.protocol.kyberPreKeys.loadKyberPreKey(9), (e: unknown) =>
      ClientError.is(e, 'invalid-record'),
    );
    assert.deepEqual((await backend.list(KYBER_TABLES.lastResortUses, '')).length, 0);
  });

  it('tops up to the target with fresh ids, the last-resort key once', async () => {
    const { store } = await device();
    const state = { remaining: 0, fail: false, uploads: [] as Upload[] };
    const api = fakeApi(state);
    assert.equal(await refillKemPreKeys(ctx, store, api), KEM_PRE_KEY_BATCH + 1);
    assert.equal(await refillKemPreKeys(ctx, store, api), 0, 'full: nothing uploaded');
    state.remaining -= 7;
    assert.equal(await refillKemPreKeys(ctx, store, api), 7);
    assert.equal(state.uploads.length, 2);
    const [first, second] = state.uploads;
    assert.ok(first?.lastResort !== undefined);
    assert.equal(second?.lastResort, undefined);
    const ids = [first, second].flatMap((u) => [
      ...(u?.oneTime ?? []).map((k) => k.id),
      ...(u?.lastResort === undefined ? [] : [u.lastResort.id]),
    ]);
    assert.equal(new Set(ids).size, ids.length, 'no id used twice');
    for (const id of ids) {
      assert.ok((await store.protocol.kyberPreKeys.loadKyberPreKey(id ?? 0)) !== undefined);
    }
  });

  it('publishes the last-resort key again when its first upload failed', async () => {
    const { store } = await device();
    const state = { remaining: 0, fail: true, uploads: [] as Upload[] };
    const api = fakeApi(state);
    await assert.rejects(refillKemPreKeys(ctx, store, api), (e: unknown) =>
      ClientError.is(e, 'closed'),
    );
    state.remaining = KEM_PRE_KEY_BATCH; // suppose the one-time keys were not the problem
    assert.equal(await refillKemPreKeys(ctx, store, api), 1);
    const lastResort = state.uploads[0]?.lastResort;
    assert.ok(lastResort !== undefined);
    const stored = await store.protocol.kyberPreKeys.loadKyberPreKey(lastResort.id ?? 0);
    assert.deepEqual(lastResort.publicKey, stored?.keyPair.publicKey.serialize());
    assert.equal(await refillKemPreKeys(ctx, store, api), 0, 'published: not sent again');
  });
});
