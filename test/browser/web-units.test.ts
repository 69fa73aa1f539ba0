/**
 * The browser app's pure helpers, in Node (WebCrypto is global there too):
 * PIN hashing (and the CLI's scrypt format), the PIN gate, tick states,
 * safety-number grouping, IndexedDB prefix bounds, event notices.
 */
import assert from 'node:assert/strict';
import { randomBytes, scryptSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { LOGOUT_REASONS } from '../../src/client/core/device-admin.js';
import { LinkingError } from '../../src/client/core/linking/errors.js';
import { createDeviceStore } from '../../src/client/core/store/device-store.js';
import { MemoryBackend } from '../../src/client/core/store/memory-backend.js';
import { prefixUpperBound } from '../../src/client/storage/indexeddb-backend.js';
import type { StoredMessage } from '../../src/client/core/store/records.js';
import { browserDeviceName } from '../../web/src/link-flow.js';
import { hashPin, PIN_SETTING, PinError, pinGate, verifyPin } from '../../web/src/pin.js';
import { eventNotice, removalReason } from '../../web/src/trust-notices.js';
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

  it("verifies the CLI's scrypt format too", async () => {
    // Made here with Node's scrypt at the CLI's parameters, as the CLI stores it.
    const salt = randomBytes(16);
    const hash = scryptSync('2468', salt, 32, { N: 2 ** 15, r: 8, p: 1, maxmem: 64 * 2 ** 20 });
    const stored = ['scrypt', 15, 8, 1, salt.toString('base64'), hash.toString('base64')].join('$');
    assert.equal(await verifyPin('2468', stored), true);
    assert.equal(await verifyPin('2469', stored), false);
    // A hash asking for absurd memory is refused before any work.
    await assert.rejects(
      verifyPin('2468', `scrypt$30$8$1$${salt.toString('base64')}$${hash.toString('base64')}`),
      (e) => e instanceof PinError && e.code === 'damaged',
    );
  });

  it('gates approvals: wrong PINs count down, no PIN refuses', async () => {
    const store = createDeviceStore(new MemoryBackend());
    const gate = pinGate(store.settings);
    await assert.rejects(
      gate.authorize('2468'),
      (e) => e instanceof PinError && e.code === 'no-pin',
    );
    await store.settings.put(PIN_SETTING, new TextEncoder().encode(await hashPin('2468')));
    await assert.rejects(
      gate.authorize('1111'),
      (e) => LinkingError.is(e, 'wrong-pin') && e.attemptsLeft === 4,
    );
    await gate.authorize('2468');
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

describe('event notices', () => {
  it('words trust events once per key, and ignores the rest', () => {
    const changed = eventNotice(
      { type: 'account-key-changed', account: 'bob', verified: false },
      'alice',
    );
    assert.equal(changed?.kind, 'error');
    assert.match(changed?.text ?? '', /bob's account key changed/);
    const refused = eventNotice(
      { type: 'device-refused', account: 'bob', deviceId: 3, reason: 'signature-mismatch' },
      'alice',
    );
    assert.match(refused?.text ?? '', /Not sending to bob's device 3.*signature-mismatch/);
    assert.equal(eventNotice({ type: 'queue-drained' }, 'alice'), undefined);
    const linked = { type: 'devices-changed', added: [2], removed: [] } as const;
    assert.equal(eventNotice({ ...linked, account: 'bob' }, 'alice'), undefined);
    assert.equal(eventNotice({ ...linked, account: 'alice' }, 'alice')?.kind, 'info');
  });

  it('takes only known reason words from a device-removed refusal', () => {
    const known = Object.keys(LOGOUT_REASONS);
    assert.equal(removalReason('device removed: primary-inactive', known), 'primary-inactive');
    assert.equal(removalReason('device removed: <b>click here</b>', known), 'removed');
    assert.equal(removalReason(undefined, known), 'removed');
  });

  it('names the browser without identifying details', () => {
    const ua =
      'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36';
    assert.equal(browserDeviceName(ua), 'Chrome on Linux');
    assert.equal(
      browserDeviceName('Mozilla/5.0 (Windows NT 10.0; rv:120.0) Firefox/120.0'),
      'Firefox on Windows',
    );
  });
});
