/**
 * Runs the device-store conformance suite on the memory and SQLite backends,
 * plus what only a persistent backend can show: data survives a reopen.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { createDeviceStore } from '../../src/client/core/store/device-store.js';
import { MemoryBackend } from '../../src/client/core/store/memory-backend.js';
import { SqliteBackend } from '../../src/client/storage/sqlite-backend.js';
import { generateSigningKeyPair } from '../../src/protocol/curve.js';
import { runProtocolStoreConformance } from '../protocol/store-conformance.js';
import type { KeyValueBackend } from '../../src/client/core/store/kv.js';
import { runDeviceStoreConformance } from './device-store-conformance.js';
import { ctx } from './helpers/clients.js';

const dir = mkdtempSync(join(tmpdir(), 'quintet-store-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let counter = 0;

runDeviceStoreConformance('memory', async () => new MemoryBackend());
runDeviceStoreConformance('sqlite', async () => new SqliteBackend(join(dir, `s${++counter}.db`)));

/** Protocol stores of a fresh device store, with a local identity set as after registration. */
async function protocolStoresOn(backend: KeyValueBackend) {
  const store = createDeviceStore(backend);
  const identity = await generateSigningKeyPair(ctx.crypto, ctx.random);
  await store.protocol.identity.setLocalIdentity(identity, 1234);
  return store.protocol;
}

// The protocol's own suite, on the stores the client actually hands the
// session cipher: memory- and SQLite-backed.
runProtocolStoreConformance('device store (memory)', () => protocolStoresOn(new MemoryBackend()));
runProtocolStoreConformance('device store (sqlite)', () =>
  protocolStoresOn(new SqliteBackend(join(dir, `p${++counter}.db`))),
);

describe('sqlite backend', () => {
  it('keeps committed data across a reopen', async () => {
    const path = join(dir, 'reopen.db');
    const first = createDeviceStore(new SqliteBackend(path));
    await first.transaction(async (tx) => {
      await tx.processed.mark('x', 1);
      await tx.settings.put('k', new Uint8Array([7]));
    });
    await first.close();
    const second = createDeviceStore(new SqliteBackend(path));
    assert.equal(await second.processed.has('x'), true);
    assert.deepEqual(await second.settings.get('k'), new Uint8Array([7]));
    await second.close();
  });

  it('matches keys with LIKE wildcards literally when listing', async () => {
    const backend = new SqliteBackend(join(dir, 'like.db'));
    await backend.commit([
      { table: 't', key: 'a_%1', value: new Uint8Array([1]) },
      { table: 't', key: 'ab%2', value: new Uint8Array([2]) },
    ]);
    assert.deepEqual(
      (await backend.list('t', 'a_')).map((e) => e.key),
      ['a_%1'],
    );
    await backend.close();
  });
});
