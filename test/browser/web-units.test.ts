/**
 * The browser app's pure helpers, in Node (WebCrypto is global there too):
 * PIN hashing, tick states, safety-number grouping, IndexedDB prefix bounds.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { prefixUpperBound } from '../../src/client/storage/indexeddb-backend.js';
import type { StoredMessage } from '../../src/client/core/store/records.js';
import { hashPin, PinError, verifyPin } from '../../web/src/pin.js';
import { tickState } from '../../web/src/ticks.js';
import { groupDigits } from '../../web/src/ui/safety-number.js';

describe('web PIN', () => {
  it('hashes with PBKDF2 and verifies only the right PIN', async () => {
    const stored = await hashPin('2468');
    assert.match(stored, /^pbkdf2-sha256\$600000\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
    assert.notEqual(await hashPin('2468'), stored, 'salted');
    assert.equal(await verifyPin('2468', stored), true);
    assert.equal(await verifyPin('2469', stored), false);
  });

  it('refuses short PINs and damaged hashes with typed errors', async () => {
    await assert.rejects(hashPin('123'), (e) => e instanceof PinError && e.code === 'too-short');
    await assert.rejects(
      verifyPin('2468', 'scrypt$15$8$1$a$b'),
      (e) => e instanceof PinError && e.code === 'damaged',
    );
  });
});

describe('ticks', () => {
  const base: StoredMessage = {
    id: new Uint8Array(16),
    chat: 'bob',
    sender: 'alice',
    senderDevice: 1,
    text: 'x',
    sentAt: 1,
    receivedAt: 0,
    outgoing: true,
    receipts: {},
  };
  it('moves from sent to delivered to read on any device', () => {
    assert.equal(tickState(base), 'sent');
    assert.equal(tickState({ ...base, receipts: { 'bob.2': 'delivered' } }), 'delivered');
    assert.equal(
      tickState({ ...base, receipts: { 'bob.1': 'delivered', 'bob.2': 'read' } }),
      'read',
    );
  });
});

describe('helpers', () => {
  it('groups safety numbers in fives', () => {
    assert.deepEqual(groupDigits('1234567890'), ['12345', '67890']);
  });

  it('computes the tightest upper bound of a key prefix', () => {
    assert.equal(prefixUpperBound('ab'), 'ac');
    assert.equal(prefixUpperBound('a\uffff'), 'b');
    assert.equal(prefixUpperBound('\uffff'), undefined);
    assert.equal(prefixUpperBound(''), undefined);
  });
});
