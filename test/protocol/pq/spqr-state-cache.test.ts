/**
 * The decoded-SPQR-state slots (`spqr-state-cache.ts`) must never change a
 * result: a slot answers only for the exact bytes it remembered (a private
 * copy), what it answers is what decoding those bytes gives, and a session
 * whose stored record changed behind the slot's back is run from the
 * record's bytes.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SessionCipher } from '../../../src/protocol/session-cipher.js';
import { processPreKeyBundle } from '../../../src/protocol/session-builder.js';
import { ProtocolError } from '../../../src/protocol/errors.js';
import { SignalMessageV4 } from '../../../src/protocol/pq/messages-v4.js';
import { decryptV4, encryptV4 } from '../../../src/protocol/pq/session-v4.js';
import type { SpqrRatchetState } from '../../../src/protocol/pq/spqr-ratchet.js';
import { SpqrStateSlot } from '../../../src/protocol/pq/spqr-state-cache.js';
import { decodeSpqrState } from '../../../src/protocol/pq/spqr-state-codec.js';
import type { SessionState } from '../../../src/protocol/session-state.js';
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

describe('SPQR state slots', () => {
  it('hand out exactly what decoding the remembered bytes gives, and only for those bytes', async () => {
    const { alice, bob } = await conversation();
    const aState = await currentState(alice, bob);
    const bState = await currentState(bob, alice);
    const aSlot = new SpqrStateSlot();
    const bSlot = new SpqrStateSlot();
    // Runs of several messages each way, so the states pass through SPQR's
    // epochs (keys sampled, chunks sent and collected, ciphertexts).
    for (let turn = 0; turn < 150; turn++) {
      const [from, fromSlot, to, toSlot] =
        turn % 3 === 2 ? [bState, bSlot, aState, aSlot] : [aState, aSlot, bState, bSlot];
      const sent = await encryptV4(alice.ctx, from, utf8(`m${turn}`), fromSlot);
      await decryptV4(bob.ctx, to, SignalMessageV4.deserialize(sent.body), toSlot);
      for (const [state, slot] of [
        [from, fromSlot],
        [to, toSlot],
      ] as const) {
        const encoded = state.pqRatchetState;
        assert.ok(encoded !== undefined);
        const remembered = slot.decode(encoded.slice());
        assert.deepEqual(remembered, decodeSpqrState(encoded));
        assert.equal(slot.decode(encoded.slice()), remembered, 'equal bytes: the remembered state');
        const changes = [0, 1, encoded.length >> 1, encoded.length - 1].map((at) => {
          const changed = encoded.slice();
          changed[at] = (changed[at] ?? 0) ^ 0x01;
          return changed;
        });
        changes.push(encoded.slice(0, encoded.length - 1));
        for (const changed of changes) {
          const got = decodeOrError(() => slot.decode(changed));
          assert.notEqual(got, remembered, 'changed bytes: not the remembered state');
          assert.deepEqual(
            got,
            decodeOrError(() => decodeSpqrState(changed)),
          );
        }
      }
    }
  });

  it('keep their own copy of the bytes they remember', async () => {
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

  it('run a state the slot does not remember from its own bytes', async () => {
    const { alice, bob } = await conversation();
    const older = await currentState(alice, bob);
    const slot = new SpqrStateSlot();
    // The slot moves on to a later state of the same session...
    const later = await currentState(alice, bob);
    for (let i = 0; i < 3; i++) await encryptV4(alice.ctx, later, utf8(`later ${i}`), slot);
    // ...then the session is run from the older record (say, a restored
    // backup): with the slot, exactly as without it.
    const twin = await currentState(alice, bob);
    const viaSlot = await encryptV4(withRandom(alice.ctx, 'same'), older, utf8('x'), slot);
    const plain = await encryptV4(withRandom(alice.ctx, 'same'), twin, utf8('x'));
    assert.deepEqual(viaSlot.body, plain.body);
    assert.deepEqual(older.pqRatchetState, twin.pqRatchetState);
  });

  it('never let a session cipher use a remembered state its stored record no longer holds', async () => {
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
