/**
 * The decoded-SPQR-state cache (`spqr-state-cache.ts`) must never change a
 * result: it answers only for the exact bytes it remembered (a private
 * copy), what it answers is what decoding those bytes gives, and a session
 * whose stored record changed behind the slot's back is run from the
 * record's bytes.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SessionCipher } from '../../../src/protocol/session-cipher.js';
import { processPreKeyBundle } from '../../../src/protocol/session-builder.js';
import { bytesEqual } from '../../../src/protocol/bytes.js';
import { ProtocolError } from '../../../src/protocol/errors.js';
import { SignalMessageV4 } from '../../../src/protocol/pq/messages-v4.js';
import { decryptV4, encryptV4 } from '../../../src/protocol/pq/session-v4.js';
import type { SpqrRatchetState } from '../../../src/protocol/pq/spqr-ratchet.js';
import {
  cachedSpqrState,
  clearSpqrStateCache,
  SpqrStateSlot,
} from '../../../src/protocol/pq/spqr-state-cache.js';
import { decodeSpqrState, encodeSpqrState } from '../../../src/protocol/pq/spqr-state-codec.js';
import { SessionState } from '../../../src/protocol/session-state.js';
import type { ProtocolContext } from '../../../src/protocol/context.js';
import { kemBundle, makeParty, seededRandom, utf8, type Party } from '../session-helpers.js';

/** Two parties with a v4 session both ways (Bob has answered once). */
async function conversation(): Promise<{ alice: Party; bob: Party }> {
  const alice = await makeParty('alice', 1, seededRandom('spqr-cache/alice'));
  const bob = await makeParty('bob', 1, seededRandom('spqr-cache/bob'));
  await processPreKeyBundle(alice.ctx, alice.stores, bob.address, await kemBundle(bob, 1));
  const a = new SessionCipher(alice.ctx, alice.stores, bob.address);
  const b = new SessionCipher(bob.ctx, bob.stores, alice.address);
  await b.decryptPreKeySignalMessage((await a.encrypt(utf8('hi'))).body);
  await a.decryptSignalMessage((await b.encrypt(utf8('hello'))).body);
  return { alice, bob };
}

async function currentState(party: Party, peer: Party): Promise<SessionState> {
  const state = (await party.stores.sessions.loadSession(peer.address))?.current;
  assert.ok(state?.pqRatchetState !== undefined);
  return state;
}

function withRandom(ctx: ProtocolContext, seed: string): ProtocolContext {
  return { ...ctx, random: seededRandom(seed) };
}

/** The decoded state, or the typed error decoding ends in. */
function decodeOrError(decode: () => SpqrRatchetState): SpqrRatchetState | ProtocolError {
  try {
    return decode();
  } catch (error) {
    assert.ok(ProtocolError.is(error));
    return error;
  }
}

describe('SPQR state cache', () => {
  it('hands out exactly what decoding the remembered bytes gives, and only for those bytes', async () => {
    const { alice, bob } = await conversation();
    const aState = await currentState(alice, bob);
    const bState = await currentState(bob, alice);
    const previous = new Map<SessionState, Uint8Array>();
    /** The state the cache gives for `bytes`, and whether it was remembered (a second ask gives the same object). */
    const ask = (
      state: SessionState,
      bytes: Uint8Array,
    ): [SpqrRatchetState | ProtocolError, boolean] => {
      const first = decodeOrError(() => cachedSpqrState(state, bytes));
      return [first, first === decodeOrError(() => cachedSpqrState(state, bytes))];
    };
    // Runs of several messages each way, so the states pass through SPQR's
    // epochs (keys sampled, chunks sent and collected, ciphertexts).
    for (let turn = 0; turn < 150; turn++) {
      const [from, to] = turn % 3 === 2 ? [bState, aState] : [aState, bState];
      const sent = await encryptV4(alice.ctx, from, utf8(`m${turn}`));
      await decryptV4(bob.ctx, to, SignalMessageV4.deserialize(sent.body));
      // Both ends of the session, in one process, keep their own slot.
      for (const state of [from, to]) {
        const encoded = state.pqRatchetState;
        assert.ok(encoded !== undefined);
        const [remembered, hit] = ask(state, encoded.slice());
        assert.ok(hit, 'equal bytes: the remembered state');
        assert.deepEqual(remembered, decodeSpqrState(encoded));
        // The bytes it remembered before this step (often of the same length,
        // kept in the same array) no longer get a remembered state.
        const before = previous.get(state);
        if (before !== undefined && !bytesEqual(before, encoded)) {
          const [got, again] = ask(state, before);
          assert.ok(!again && got !== remembered);
          assert.deepEqual(got, decodeSpqrState(before));
        }
        previous.set(state, encoded.slice());
        const changes = [0, 1, encoded.length >> 1, encoded.length - 1].map((at) => {
          const changed = encoded.slice();
          changed[at] = (changed[at] ?? 0) ^ 0x01;
          return changed;
        });
        changes.push(encoded.slice(0, encoded.length - 1));
        for (const changed of changes) {
          const [got, again] = ask(state, changed);
          assert.ok(got !== remembered && (got instanceof ProtocolError || !again));
          assert.deepEqual(
            got,
            decodeOrError(() => decodeSpqrState(changed)),
          );
        }
      }
    }
    clearSpqrStateCache();
    const encoded = aState.pqRatchetState;
    assert.ok(encoded !== undefined);
    assert.equal(ask(aState, encoded)[1], false, 'cleared: decoded afresh');
  });

  it('keeps its own copy of the bytes it remembers', async () => {
    const { alice, bob } = await conversation();
    const encoded = (await currentState(alice, bob)).pqRatchetState;
    assert.ok(encoded !== undefined);
    const state = decodeSpqrState(encoded);
    const slot = new SpqrStateSlot();
    const mine = encoded.slice();
    slot.remember(mine, state);
    mine[mine.length - 1] = (mine[mine.length - 1] ?? 0) ^ 0x01;
    assert.notEqual(slot.decode(mine), state);
    assert.equal(slot.decode(encoded), state);
    // The same bytes at an odd offset (the byte-wise compare path).
    const unaligned = new Uint8Array(encoded.length + 1).subarray(1);
    unaligned.set(encoded);
    assert.equal(slot.decode(unaligned), state);
    unaligned[unaligned.length - 1] = (unaligned[unaligned.length - 1] ?? 0) ^ 0x01;
    assert.notEqual(slot.decode(unaligned), state);
    slot.clear();
    assert.notEqual(slot.decode(encoded), state);
  });

  it('runs a state it does not remember from its own bytes', async () => {
    const { alice, bob } = await conversation();
    const older = await currentState(alice, bob);
    // The cache moves on to a later state of the same session...
    const later = await currentState(alice, bob);
    for (let i = 0; i < 3; i++) await encryptV4(alice.ctx, later, utf8(`later ${i}`));
    // ...then the session is run from the older record (say, a restored
    // backup): with the cache, exactly as without it.
    const twin = await currentState(alice, bob);
    const viaSlot = await encryptV4(withRandom(alice.ctx, 'same'), older, utf8('x'));
    clearSpqrStateCache();
    const plain = await encryptV4(withRandom(alice.ctx, 'same'), twin, utf8('x'));
    assert.deepEqual(viaSlot.body, plain.body);
    assert.deepEqual(older.pqRatchetState, twin.pqRatchetState);
  });

  it('writes a stepped state with exactly its encoding, and remembers it from the bytes written', async () => {
    const { alice, bob } = await conversation();
    const state = await currentState(alice, bob);
    await encryptV4(alice.ctx, state, utf8('x'));
    clearSpqrStateCache();
    // Serialized while the new SPQR state is still a value (encoded in place)...
    const inPlace = state.serialize();
    const loaded = SessionState.deserialize(inPlace);
    const stored = loaded.pqRatchetState;
    assert.ok(stored !== undefined);
    // ...the next load gets the very state, no decoding...
    const first = cachedSpqrState(loaded, stored);
    assert.equal(cachedSpqrState(loaded, stored.slice()), first);
    // ...and the bytes are those of encoding it on its own.
    const own = state.pqRatchetState;
    assert.ok(own !== undefined);
    assert.deepEqual(stored, own);
    assert.deepEqual(own, encodeSpqrState(first));
    assert.deepEqual(state.serialize(), inPlace);
    // Assigning bytes replaces a pending state.
    await encryptV4(alice.ctx, state, utf8('y'));
    state.pqRatchetState = own;
    assert.deepEqual(SessionState.deserialize(state.serialize()).pqRatchetState, own);
  });

  it('never lets a session cipher use a remembered state its stored record no longer holds', async () => {
    const { alice, bob } = await conversation();
    const a = new SessionCipher(alice.ctx, alice.stores, bob.address);
    await a.encrypt(utf8('fills the slot'));
    // Damage the SPQR state in the stored record: the next encrypt must see
    // the damage ('invalid-state'), not the state the slot remembers.
    const record = await alice.stores.sessions.loadSession(bob.address);
    const state = record?.current;
    assert.ok(record !== undefined && state?.pqRatchetState !== undefined);
    state.pqRatchetState = state.pqRatchetState.subarray(0, state.pqRatchetState.length - 1);
    await alice.stores.sessions.storeSession(bob.address, record);
    await assert.rejects(a.encrypt(utf8('after the damage')), (error: unknown) =>
      ProtocolError.is(error, 'invalid-state'),
    );
  });
});
