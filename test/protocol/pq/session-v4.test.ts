/**
 * Version-4 sessions between two Quintet sides (the libsignal-client
 * interop is test/interop/triple-ratchet.test.ts): a conversation through
 * the session store, refusals that leave the stored state unchanged (bad
 * MAC, a stripped SPQR field, a v3 message), and the storage checks of the
 * new session-state fields.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { nodeCrypto } from '../../../src/crypto/node.js';
import { systemClock } from '../../../src/crypto/provider.js';
import type { ProtocolContext } from '../../../src/protocol/context.js';
import { generateSigningKeyPair, PublicKey } from '../../../src/protocol/curve.js';
import { ProtocolError } from '../../../src/protocol/errors.js';
import { generateKyberPreKey } from '../../../src/protocol/pq/kyber-prekey-record.js';
import { PreKeySignalMessageV4, SignalMessageV4 } from '../../../src/protocol/pq/messages-v4.js';
import {
  acceptSessionV4,
  decryptV4,
  encryptV4,
  initiateSessionV4,
} from '../../../src/protocol/pq/session-v4.js';
import { generatePreKeys, generateSignedPreKey } from '../../../src/protocol/prekeys.js';
import { SessionState } from '../../../src/protocol/session-state.js';
import { ProtoReader, ProtoWriter, type ProtoField } from '../../../src/protocol/wire.js';
import { checkProperty } from '../../property.js';
import { seededRandom } from '../session-helpers.js';

const ctx: ProtocolContext = {
  crypto: nodeCrypto,
  random: seededRandom('session-v4'),
  clock: systemClock,
};

async function pair(): Promise<{ alice: SessionState; bob: SessionState; first: Uint8Array }> {
  const aliceIdentity = await generateSigningKeyPair(ctx.crypto, ctx.random);
  const bobIdentity = await generateSigningKeyPair(ctx.crypto, ctx.random);
  const signed = await generateSignedPreKey(ctx, bobIdentity, 5);
  const [preKey] = await generatePreKeys(ctx, 9, 1);
  assert.ok(preKey !== undefined);
  const kyber = await generateKyberPreKey(ctx, bobIdentity, 7);
  const alice = await initiateSessionV4(
    ctx,
    { identity: aliceIdentity, registrationId: 11 },
    {
      registrationId: 22,
      identityKey: bobIdentity.publicKey,
      signedPreKeyId: signed.id,
      signedPreKey: signed.keyPair.publicKey,
      preKeyId: preKey.id,
      preKey: preKey.keyPair.publicKey,
      kyberPreKeyId: kyber.id,
      kyberPreKey: kyber.keyPair.publicKey,
    },
  );
  const hello = await encryptV4(ctx, alice, new TextEncoder().encode('hello'));
  assert.equal(hello.type, 'prekey');
  const message = PreKeySignalMessageV4.deserialize(hello.body);
  assert.equal(message.kyberPreKeyId, 7);
  const { state: bob, plaintext } = await acceptSessionV4(
    ctx,
    {
      identity: bobIdentity,
      registrationId: 22,
      signedPreKey: signed.keyPair,
      oneTimePreKey: preKey.keyPair,
      kemSecretKey: kyber.keyPair.secretKey,
    },
    message,
  );
  assert.equal(new TextDecoder().decode(plaintext), 'hello');
  return { alice, bob, first: hello.body };
}

/** Round trip through the storage bytes, as a session store does. */
function stored(state: SessionState): SessionState {
  return SessionState.deserialize(state.serialize());
}

describe('v4 sessions (PQXDH + triple ratchet) between Quintet sides', () => {
  it('a 200-message conversation in bursts, each state stored and reloaded after every message', async () => {
    let { alice, bob } = await pair();
    for (let turn = 0; turn < 60; turn++) {
      const aliceSends = turn % 2 === 0;
      for (let i = 0; i < 1 + (turn % 5); i++) {
        const text = new TextEncoder().encode(`turn ${turn} message ${i}`);
        const from = aliceSends ? alice : bob;
        const out = await encryptV4(ctx, from, text);
        const to = stored(aliceSends ? bob : alice);
        const body =
          out.type === 'prekey'
            ? PreKeySignalMessageV4.deserialize(out.body).message
            : SignalMessageV4.deserialize(out.body);
        assert.deepEqual(await decryptV4(ctx, to, body), text);
        if (aliceSends) {
          alice = stored(from);
          bob = to;
        } else {
          bob = stored(from);
          alice = to;
        }
      }
    }
    // Alice heard back: no more prekey messages.
    assert.equal((await encryptV4(ctx, alice, new Uint8Array(0))).type, 'signal');
  });

  it('refusals leave the state unchanged: bad MAC, stripped SPQR field (downgrade), a replay', async () => {
    const { alice, bob } = await pair();
    await decryptV4(
      ctx,
      alice,
      SignalMessageV4.deserialize((await encryptV4(ctx, bob, new Uint8Array(3))).body),
    );
    const good = SignalMessageV4.deserialize((await encryptV4(ctx, alice, new Uint8Array(5))).body);
    const before = bob.serialize();

    const flipped = good.serialized.slice();
    flipped[flipped.length - 1] = (flipped[flipped.length - 1] ?? 0) ^ 1;
    await assert.rejects(decryptV4(ctx, bob, SignalMessageV4.deserialize(flipped)), (e: unknown) =>
      ProtocolError.is(e, 'bad-mac'),
    );
    assert.deepEqual(bob.serialize(), before);

    // The same message without its pq_ratchet field (field 5), MAC bytes kept.
    const reader = new ProtoReader(
      good.serialized.subarray(1, good.serialized.length - 8),
      'invalid-message',
    );
    const fields: ProtoField[] = [];
    while (reader.more) fields.push(reader.next());
    const body = ProtoWriter.encode((w) => {
      for (const f of fields) {
        if (f.field === 5) continue;
        if (f.wireType === 2) w.bytes(f.field, f.value);
        else w.uint(f.field, f.value);
      }
    });
    const stripped = Uint8Array.from([
      good.serialized[0] ?? 0,
      ...body,
      ...good.serialized.subarray(good.serialized.length - 8),
    ]);
    await assert.rejects(decryptV4(ctx, bob, SignalMessageV4.deserialize(stripped)), (e: unknown) =>
      ProtocolError.is(e, 'invalid-version'),
    );
    assert.deepEqual(bob.serialize(), before);

    assert.deepEqual(await decryptV4(ctx, bob, good), new Uint8Array(5));
    const after = bob.serialize();
    await assert.rejects(decryptV4(ctx, bob, good), (e: unknown) =>
      ProtocolError.is(e, 'duplicate-message'),
    );
    assert.deepEqual(bob.serialize(), after);
  });

  it('a v3 session refuses v4 operations; v3 messages are not v4 messages', async () => {
    const { bob } = await pair();
    const v3 = stored(bob);
    v3.sessionVersion = 3;
    v3.pqRatchetState = undefined;
    await assert.rejects(encryptV4(ctx, v3, new Uint8Array(1)), (e: unknown) =>
      ProtocolError.is(e, 'invalid-version'),
    );
    assert.throws(
      () => SignalMessageV4.deserialize(Uint8Array.from([0x33, 0x0a, 0x00, ...new Uint8Array(8)])),
      (e: unknown) => ProtocolError.is(e, 'invalid-version'),
    );
  });

  it('fuzz: a damaged v4 record is refused as "invalid-state" at load or at use, never a crash', async () => {
    const { alice, bob } = await pair();
    await decryptV4(
      ctx,
      alice,
      SignalMessageV4.deserialize((await encryptV4(ctx, bob, new Uint8Array(2))).body),
    );
    const next = SignalMessageV4.deserialize((await encryptV4(ctx, alice, new Uint8Array(4))).body);
    const good = bob.serialize();
    await checkProperty(
      fc.asyncProperty(fc.nat(good.length - 1), fc.integer({ min: 1, max: 255 }), async (at, x) => {
        const bad = good.slice();
        bad[at] = (bad[at] ?? 0) ^ x;
        let state: SessionState;
        try {
          state = SessionState.deserialize(bad);
        } catch (e) {
          assert.ok(ProtocolError.is(e, 'invalid-state'), String(e));
          return;
        }
        // Loaded: using it either works or fails with a typed protocol error.
        for (const use of [
          () => decryptV4(ctx, state, next),
          () => encryptV4(ctx, state, new Uint8Array(1)),
        ]) {
          try {
            await use();
          } catch (e) {
            assert.ok(e instanceof ProtocolError, String(e));
          }
        }
      }),
      { numRuns: 150 },
    );
  });

  it('storage: the new fields round-trip; v4 without SPQR, v3 with SPQR, half a KEM prekey are "invalid-state"', async () => {
    const { alice } = await pair();
    const again = stored(alice);
    assert.deepEqual(again.pqRatchetState, alice.pqRatchetState);
    assert.deepEqual(
      again.pendingPreKey?.kyber?.ciphertext,
      alice.pendingPreKey?.kyber?.ciphertext,
    );
    assert.equal(again.pendingPreKey?.kyber?.preKeyId, 7);

    const noSpqr = stored(alice);
    noSpqr.pqRatchetState = undefined;
    assert.throws(
      () => stored(noSpqr),
      (e: unknown) => ProtocolError.is(e, 'invalid-state'),
    );

    const v3WithSpqr = stored(alice);
    v3WithSpqr.sessionVersion = 3;
    v3WithSpqr.pendingPreKey = undefined;
    assert.throws(
      () => stored(v3WithSpqr),
      (e: unknown) => ProtocolError.is(e, 'invalid-state'),
    );

    const v3WithKyber = stored(alice);
    v3WithKyber.sessionVersion = 3;
    v3WithKyber.pqRatchetState = undefined;
    assert.throws(
      () => stored(v3WithKyber),
      (e: unknown) => ProtocolError.is(e, 'invalid-state'),
    );

    const half = stored(alice);
    const pending = half.pendingPreKey;
    assert.ok(pending?.kyber !== undefined);
    half.pendingPreKey = {
      ...pending,
      kyber: { preKeyId: 7, ciphertext: pending.kyber.ciphertext.subarray(1) },
    };
    assert.throws(
      () => stored(half),
      (e: unknown) => ProtocolError.is(e, 'invalid-state'),
    );
    assert.ok(PublicKey.deserialize(alice.aliceBaseKey));
  });
});
