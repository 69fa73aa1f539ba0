/**
 * A send touches each session record once: `encrypt` with a bundle builds
 * the session and encrypts in one load and one store of the record (the
 * client core's send path, session-ops.ts), and a caller that serializes
 * per address itself (`serialized: 'caller'`) gets no second lock.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SessionCipher } from '../../src/protocol/session-cipher.js';
import type { SessionStore } from '../../src/protocol/stores/session-store.js';
import { fromUtf8, makeParty, utf8 } from './session-helpers.js';

/** Counts loads and stores of session records. */
function counted(store: SessionStore): {
  store: SessionStore;
  loads: () => number;
  stores: () => number;
} {
  let loads = 0;
  let stores = 0;
  const wrapped: SessionStore = {
    ...store,
    loadSession: (address) => {
      loads++;
      return store.loadSession(address);
    },
    storeSession: (address, record) => {
      stores++;
      return store.storeSession(address, record);
    },
  };
  return { store: wrapped, loads: () => loads, stores: () => stores };
}

describe('session record access', () => {
  it('a first send from a bundle loads and stores the record once; a later send too', async () => {
    const a = await makeParty('alice');
    const b = await makeParty('bob');
    const sessions = counted(a.stores.sessions);
    const stores = { ...a.stores, sessions: sessions.store };
    const cipher = new SessionCipher(a.ctx, stores, b.address, { serialized: 'caller' });
    const first = await cipher.encrypt(utf8('hello'), await b.bundle());
    assert.equal(first.type, 'prekey');
    assert.equal(first.remoteRegistrationId, b.registrationId);
    assert.equal(sessions.loads(), 1);
    assert.equal(sessions.stores(), 1);
    // The bundle's identity was saved with the session.
    assert.ok(await a.stores.identity.getIdentity(b.address));
    // A bundle for an open session is ignored: no second session is built.
    const second = await cipher.encrypt(utf8('again'), await b.bundle());
    assert.equal(sessions.loads(), 2);
    assert.equal(sessions.stores(), 2);
    const reader = new SessionCipher(b.ctx, b.stores, a.address);
    assert.equal(fromUtf8(await reader.decryptPreKeySignalMessage(first.body)), 'hello');
    assert.equal(fromUtf8(await reader.decryptPreKeySignalMessage(second.body)), 'again');
  });
});
