/**
 * Two devices that start v4 sessions with each other at the same time end
 * up with each other's session current and their own archived, and
 * messages keep arriving for both. A message for the archived state must
 * still decrypt: the current state's SPQR may have used that message's key
 * index already (a different session's counter), which says "not this
 * state", not "a replay" — libsignal asks SPQR only after the double
 * ratchet found the message key, and maps SPQR's refusals to
 * InvalidMessage, so the next state is tried. Found by the client churn
 * test (messages dropped as duplicates).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ProtocolError } from '../../../src/protocol/errors.js';
import { processPreKeyBundle } from '../../../src/protocol/session-builder.js';
import { SessionCipher, type CiphertextMessage } from '../../../src/protocol/session-cipher.js';
import { kemBundle, fromUtf8, makeParty, snapshotStores, utf8 } from '../session-helpers.js';

function decrypt(cipher: SessionCipher, message: CiphertextMessage): Promise<Uint8Array> {
  return message.type === 'prekey'
    ? cipher.decryptPreKeySignalMessage(message.body)
    : cipher.decryptSignalMessage(message.body);
}

describe('v4 sessions started by both sides at once', () => {
  it('decrypts every message, for the current and for the archived state', async () => {
    const alice = await makeParty('alice');
    const bob = await makeParty('bob');
    // Both fetch the other's bundle before either message arrives.
    await processPreKeyBundle(alice.ctx, alice.stores, bob.address, await kemBundle(bob, 1));
    await processPreKeyBundle(bob.ctx, bob.stores, alice.address, await kemBundle(alice, 1));
    const toBob = new SessionCipher(alice.ctx, alice.stores, bob.address);
    const toAlice = new SessionCipher(bob.ctx, bob.stores, alice.address);
    const fromAlice = [1, 2, 3].map((i) => `a${i}`);
    const fromBob = [1, 2, 3].map((i) => `b${i}`);
    const aliceSent: CiphertextMessage[] = [];
    const bobSent: CiphertextMessage[] = [];
    for (const text of fromAlice) aliceSent.push(await toBob.encrypt(utf8(text)));
    for (const text of fromBob) bobSent.push(await toAlice.encrypt(utf8(text)));
    // Each receives the other's first flight: the other's session becomes
    // current, its own is archived.
    for (const [i, m] of aliceSent.entries()) {
      assert.equal(fromUtf8(await decrypt(toAlice, m)), fromAlice[i]);
    }
    for (const [i, m] of bobSent.entries()) {
      assert.equal(fromUtf8(await decrypt(toBob, m)), fromBob[i]);
    }
    // Now each answers on its current session (the one the other started):
    // for the receiver that is its archived state, and the current one has
    // already used these SPQR key indexes for the first flight.
    for (let round = 0; round < 3; round++) {
      const a = await toBob.encrypt(utf8(`a-late${round}`));
      const b = await toAlice.encrypt(utf8(`b-late${round}`));
      assert.equal(fromUtf8(await decrypt(toAlice, a)), `a-late${round}`);
      assert.equal(fromUtf8(await decrypt(toBob, b)), `b-late${round}`);
    }
  });

  it('still refuses a real replay as a duplicate, with the stores unchanged', async () => {
    const alice = await makeParty('alice');
    const bob = await makeParty('bob');
    await processPreKeyBundle(alice.ctx, alice.stores, bob.address, await kemBundle(bob, 1));
    const toBob = new SessionCipher(alice.ctx, alice.stores, bob.address);
    const toAlice = new SessionCipher(bob.ctx, bob.stores, alice.address);
    const first = await toBob.encrypt(utf8('hello'));
    await decrypt(toAlice, first);
    const answer = await toAlice.encrypt(utf8('hi'));
    await decrypt(toBob, answer);
    const later = await toBob.encrypt(utf8('again'));
    assert.equal(fromUtf8(await decrypt(toAlice, later)), 'again');
    const before = snapshotStores(bob.stores);
    await assert.rejects(decrypt(toAlice, later), (e: unknown) =>
      ProtocolError.is(e, 'duplicate-message'),
    );
    assert.equal(snapshotStores(bob.stores), before);
  });
});
