/**
 * Version-4 sessions with @signalapp/libsignal-client 0.103, live, both
 * directions: PQXDH setup, then long conversations on the triple ratchet
 * (Double Ratchet + SPQR) with several DH and SPQR epochs, bursts delivered
 * out of order, dropped messages, plaintexts of 0 bytes to 64 KiB, and
 * libsignal's session reporting itself current (`hasCurrentState`, which
 * 0.103 grants only to v4 sessions with SPQR state).
 *
 * Quintet's side keeps its session in a `MemorySessionStore` (the record
 * serialized and parsed on every message), so the SPQR state round-trips
 * through Quintet's storage format all along. The schedule (who sends, burst
 * sizes, order, drops, sizes) and Quintet's randomness are fixed; only
 * libsignal draws its own randomness.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as Signal from '@signalapp/libsignal-client';
import { LibsignalDevice } from '../../bench/libsignal-client.js';
import { nodeCrypto } from '../../src/crypto/node.js';
import { systemClock } from '../../src/crypto/provider.js';
import { protocolAddress } from '../../src/protocol/address.js';
import type { ProtocolContext } from '../../src/protocol/context.js';
import { generateSigningKeyPair, PublicKey, verify } from '../../src/protocol/curve.js';
import {
  generateKyberPreKey,
  verifiedKemPreKey,
} from '../../src/protocol/pq/kyber-prekey-record.js';
import { PreKeySignalMessageV4, SignalMessageV4 } from '../../src/protocol/pq/messages-v4.js';
import {
  acceptSessionV4,
  decryptV4,
  encryptV4,
  initiateSessionV4,
  type ResponderKeysV4,
} from '../../src/protocol/pq/session-v4.js';
import { decodeSpqrMessage } from '../../src/protocol/pq/spqr-message.js';
import { generatePreKeys, generateSignedPreKey } from '../../src/protocol/prekeys.js';
import { SessionRecord } from '../../src/protocol/session-record.js';
import { MemorySessionStore } from '../../src/protocol/stores/memory.js';
import { seededRandom } from '../protocol/session-helpers.js';

type Bytes = Uint8Array<ArrayBuffer>;
const ab = (bytes: Uint8Array): Bytes => new Uint8Array(bytes);

const SIZES = [0, 1, 15, 16, 17, 255, 1000, 4096, 16_384, 65_536];
const PEER = protocolAddress('peer', 1);

function plaintextFor(n: number): Uint8Array {
  const size = SIZES[n % SIZES.length] ?? 0;
  return Uint8Array.from({ length: size }, (_, i) => (n * 31 + i * 7) & 0xff);
}

/** Quintet's side: its session lives in a session store, parsed on each use. */
class QuintetSide {
  readonly store = new MemorySessionStore();
  constructor(readonly ctx: ProtocolContext) {}

  async save(state: NonNullable<SessionRecord['current']>): Promise<void> {
    const record = SessionRecord.empty();
    record.promoteState(state);
    await this.store.storeSession(PEER, record);
  }

  async state(): Promise<NonNullable<SessionRecord['current']>> {
    const state = (await this.store.loadSession(PEER))?.current;
    assert.ok(state !== undefined, 'Quintet has a session');
    return state;
  }

  async encrypt(plaintext: Uint8Array): Promise<{ prekey: boolean; body: Uint8Array }> {
    const state = await this.state();
    const out = await encryptV4(this.ctx, state, plaintext);
    await this.save(state);
    return { prekey: out.type === 'prekey', body: out.body };
  }

  async decrypt(body: Uint8Array): Promise<Uint8Array> {
    const state = await this.state();
    const plaintext = await decryptV4(this.ctx, state, SignalMessageV4.deserialize(body));
    await this.save(state);
    return plaintext;
  }
}

interface Wire {
  readonly prekey: boolean;
  readonly body: Uint8Array;
  readonly plaintext: Uint8Array;
  readonly n: number;
}

/** What the conversation showed: SPQR epochs and DH ratchet keys seen on the wire. */
interface Seen {
  epochs: Set<number>;
  ratchetKeys: Set<string>;
  delivered: number;
  dropped: number;
  late: number;
}

function note(seen: Seen, w: Wire): void {
  const inner = w.prekey
    ? PreKeySignalMessageV4.deserialize(w.body).message
    : SignalMessageV4.deserialize(w.body);
  const spqr = decodeSpqrMessage(inner.pqRatchet);
  assert.ok(spqr !== undefined, 'every message carries SPQR v1');
  seen.epochs.add(spqr.epoch);
  seen.ratchetKeys.add(Buffer.from(inner.senderRatchetKey.serialize()).toString('hex'));
}

/**
 * Runs a fixed schedule: bursts alternate between the sides (so the DH
 * ratchet steps on every turn); burst k has 1–6 messages, every third burst
 * arrives reversed, every 7th message after the first turns is dropped, and
 * every 11th arrives late: after the receiver has sent a burst of its own
 * (so on a receiving chain the DH ratchet has already left behind).
 */
async function converse(
  first: { send(p: Uint8Array): Promise<Wire>; receive(w: Wire): Promise<Uint8Array> },
  second: { send(p: Uint8Array): Promise<Wire>; receive(w: Wire): Promise<Uint8Array> },
  turns: number,
): Promise<{ seen: Seen; sentBy: [number, number] }> {
  const seen: Seen = {
    epochs: new Set(),
    ratchetKeys: new Set(),
    delivered: 0,
    dropped: 0,
    late: 0,
  };
  const sentBy: [number, number] = [0, 0];
  const lateFor: [Wire[], Wire[]] = [[], []];
  let n = 0;
  const deliver = async (to: { receive(w: Wire): Promise<Uint8Array> }, w: Wire, turn: number) => {
    assert.deepEqual(await to.receive(w), w.plaintext, `message ${w.n} (turn ${turn})`);
    seen.delivered++;
  };
  for (let turn = 0; turn < turns; turn++) {
    const fromFirst = turn % 2 === 0;
    const [from, to] = fromFirst ? [first, second] : [second, first];
    const burst: Wire[] = [];
    const size = 1 + ((turn * 5 + 3) % 6);
    for (let i = 0; i < size; i++) {
      burst.push(await from.send(plaintextFor(n++)));
      sentBy[fromFirst ? 0 : 1]++;
    }
    // Messages held back two turns ago: the receiver has replied since.
    const held = lateFor[fromFirst ? 1 : 0];
    for (const w of held.splice(0)) {
      await deliver(to, w, turn);
      seen.late++;
    }
    const order = turn % 3 === 2 ? [...burst].reverse() : burst;
    for (const w of order) {
      note(seen, w);
      // The first two turns set the session up; drops and delays start after.
      if (turn >= 2 && w !== burst[0] && w.n % 7 === 3) {
        seen.dropped++;
      } else if (turn >= 2 && w !== burst[0] && w.n % 11 === 5) {
        held.push(w);
      } else {
        await deliver(to, w, turn);
      }
    }
  }
  return { seen, sentBy };
}

async function quintetBundleForLibsignal(ctx: ProtocolContext, oneTime: boolean) {
  const identity = await generateSigningKeyPair(ctx.crypto, ctx.random);
  const signed = await generateSignedPreKey(ctx, identity, 5);
  const [preKey] = await generatePreKeys(ctx, 31, 1);
  assert.ok(preKey !== undefined);
  const kyber = await generateKyberPreKey(ctx, identity, 77);
  const bundle = Signal.PreKeyBundle.new(
    4242,
    1,
    oneTime ? preKey.id : null,
    oneTime ? Signal.PublicKey.deserialize(ab(preKey.keyPair.publicKey.serialize())) : null,
    signed.id,
    Signal.PublicKey.deserialize(ab(signed.keyPair.publicKey.serialize())),
    ab(signed.signature),
    Signal.PublicKey.deserialize(ab(identity.publicKey.serialize())),
    kyber.id,
    Signal.KEMPublicKey.deserialize(ab(kyber.keyPair.publicKey.serialize())),
    ab(kyber.signature),
  );
  const keys: ResponderKeysV4 = {
    identity,
    registrationId: 4242,
    signedPreKey: signed.keyPair,
    oneTimePreKey: oneTime ? preKey.keyPair : undefined,
    kemSecretKey: kyber.keyPair.secretKey,
  };
  return { bundle, keys };
}

function contextFor(seed: string): ProtocolContext {
  return { crypto: nodeCrypto, random: seededRandom(seed), clock: systemClock };
}

const TURNS = 120;

describe('triple ratchet: libsignal-client 0.103 → Quintet (libsignal initiates)', () => {
  for (const oneTime of [true, false]) {
    it(`${oneTime ? 'with' : 'without'} a one-time EC prekey: ${TURNS} bursts, several DH and SPQR epochs, reordered and dropped messages`, async () => {
      const ctx = contextFor(`tr-l2q-${oneTime}`);
      const { bundle, keys } = await quintetBundleForLibsignal(ctx, oneTime);
      const lib = new LibsignalDevice('lib', 1, 1234);
      const quintetAddress = Signal.ProtocolAddress.new('quintet', 1);
      await lib.processBundle(quintetAddress, bundle);
      const q = new QuintetSide(ctx);
      let n = 0;
      const libSide = {
        async send(p: Uint8Array): Promise<Wire> {
          const out = await lib.encrypt(quintetAddress, ab(p));
          return { ...out, plaintext: p, n: n++ };
        },
        async receive(w: Wire): Promise<Uint8Array> {
          return lib.decrypt(quintetAddress, { prekey: w.prekey, body: ab(w.body) });
        },
      };
      const quintetSide = {
        async send(p: Uint8Array): Promise<Wire> {
          return { ...(await q.encrypt(p)), plaintext: p, n: n++ };
        },
        async receive(w: Wire): Promise<Uint8Array> {
          if (w.prekey) {
            const message = PreKeySignalMessageV4.deserialize(w.body);
            if ((await q.store.loadSession(PEER)) === undefined) {
              const { state, plaintext } = await acceptSessionV4(ctx, keys, message);
              await q.save(state);
              return plaintext;
            }
            return q.decrypt(message.message.serialized);
          }
          return q.decrypt(w.body);
        },
      };
      const { seen, sentBy } = await converse(libSide, quintetSide, TURNS);
      assert.ok(sentBy[0] >= 50 && sentBy[1] >= 50, `messages each way: ${sentBy.join(', ')}`);
      assert.ok(seen.epochs.size >= 4, `SPQR epochs seen: ${[...seen.epochs].join(', ')}`);
      assert.ok(seen.ratchetKeys.size >= 10, `DH ratchet keys: ${seen.ratchetKeys.size}`);
      assert.ok(seen.dropped > 0 && seen.late > 0);
      const record = await lib.sessions.getSession(quintetAddress);
      assert.ok(record !== null && record.hasCurrentState(), 'libsignal: session is current');
    });
  }
});

describe('triple ratchet: Quintet → libsignal-client 0.103 (Quintet initiates)', () => {
  for (const oneTime of [true, false]) {
    it(`${oneTime ? 'with' : 'without'} a one-time EC prekey: ${TURNS} bursts, several DH and SPQR epochs, reordered and dropped messages`, async () => {
      const ctx = contextFor(`tr-q2l-${oneTime}`);
      const lib = new LibsignalDevice('lib', 1, 777);
      const full = await lib.bundle();
      const identityKey = PublicKey.deserialize(full.identityKey().serialize());
      const signedPreKey = PublicKey.deserialize(full.signedPreKeyPublic().serialize());
      assert.ok(
        await verify(
          ctx.crypto,
          identityKey,
          signedPreKey.serialize(),
          full.signedPreKeySignature(),
        ),
      );
      const kyberPreKey = await verifiedKemPreKey(
        ctx.crypto,
        identityKey,
        full.kyberPreKeyPublic().serialize(),
        full.kyberPreKeySignature(),
      );
      const oneTimeKey = full.preKeyPublic();
      const identity = await generateSigningKeyPair(ctx.crypto, ctx.random);
      const q = new QuintetSide(ctx);
      await q.save(
        await initiateSessionV4(
          ctx,
          { identity, registrationId: 555 },
          {
            registrationId: full.registrationId(),
            identityKey,
            signedPreKeyId: full.signedPreKeyId(),
            signedPreKey,
            preKeyId: oneTime ? (full.preKeyId() ?? undefined) : undefined,
            preKey:
              oneTime && oneTimeKey !== null
                ? PublicKey.deserialize(oneTimeKey.serialize())
                : undefined,
            kyberPreKeyId: full.kyberPreKeyId(),
            kyberPreKey,
          },
        ),
      );
      const quintetAddress = Signal.ProtocolAddress.new('quintet', 1);
      let n = 0;
      const quintetSide = {
        async send(p: Uint8Array): Promise<Wire> {
          return { ...(await q.encrypt(p)), plaintext: p, n: n++ };
        },
        async receive(w: Wire): Promise<Uint8Array> {
          assert.equal(w.prekey, false, 'libsignal answers with SignalMessages');
          return q.decrypt(w.body);
        },
      };
      const libSide = {
        async send(p: Uint8Array): Promise<Wire> {
          const out = await lib.encrypt(quintetAddress, ab(p));
          return { ...out, plaintext: p, n: n++ };
        },
        async receive(w: Wire): Promise<Uint8Array> {
          return lib.decrypt(quintetAddress, { prekey: w.prekey, body: ab(w.body) });
        },
      };
      const { seen, sentBy } = await converse(quintetSide, libSide, TURNS);
      assert.ok(sentBy[0] >= 50 && sentBy[1] >= 50, `messages each way: ${sentBy.join(', ')}`);
      assert.ok(seen.epochs.size >= 4, `SPQR epochs seen: ${[...seen.epochs].join(', ')}`);
      assert.ok(seen.ratchetKeys.size >= 10, `DH ratchet keys: ${seen.ratchetKeys.size}`);
      assert.ok(seen.dropped > 0 && seen.late > 0);
      const record = await lib.sessions.getSession(quintetAddress);
      assert.ok(record !== null && record.hasCurrentState(), 'libsignal: session is current');
    });
  }
});
