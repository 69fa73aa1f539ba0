/**
 * Version-4 sessions with @signalapp/libsignal-client 0.103, live, through
 * Quintet's normal session API: `processPreKeyBundle` on a libsignal bundle
 * (which carries a signed KEM prekey), `SessionCipher` on both message
 * types, and the memory stores — including the KEM prekey store on the
 * responder side. Both directions, with and without a one-time EC prekey;
 * bursts alternate (a DH step every turn, SPQR epochs advancing), every
 * third burst arrives reversed, some messages are dropped, plaintexts run
 * from 0 bytes to 64 KiB. libsignal's session must report itself current.
 * (test/interop/triple-ratchet.test.ts does the same at the state level.)
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as Signal from '@signalapp/libsignal-client';
import { LibsignalDevice } from '../../bench/libsignal-client.js';
import { protocolAddress } from '../../src/protocol/address.js';
import { PublicKey } from '../../src/protocol/curve.js';
import { KemPublicKey } from '../../src/protocol/pq/kem.js';
import { generateKyberPreKey } from '../../src/protocol/pq/kyber-prekey-record.js';
import {
  PQ_VERSION_BYTE,
  PreKeySignalMessageV4,
  SignalMessageV4,
} from '../../src/protocol/pq/messages-v4.js';
import { decodeSpqrMessage } from '../../src/protocol/pq/spqr-message.js';
import { processPreKeyBundle } from '../../src/protocol/session-builder.js';
import { SessionCipher } from '../../src/protocol/session-cipher.js';
import { makeParty, seededRandom, type Party } from '../protocol/session-helpers.js';

type Bytes = Uint8Array<ArrayBuffer>;
const ab = (bytes: Uint8Array): Bytes => new Uint8Array(bytes);

const SIZES = [0, 1, 15, 16, 17, 255, 1000, 4096, 16_384, 65_536];
const LIB = protocolAddress('lib', 1);
const QUINTET = Signal.ProtocolAddress.new('quintet', 1);
const TURNS = 72;

function plaintextFor(n: number): Uint8Array {
  const size = SIZES[n % SIZES.length] ?? 0;
  return Uint8Array.from({ length: size }, (_, i) => (n * 29 + i * 3) & 0xff);
}

interface Wire {
  readonly prekey: boolean;
  readonly body: Uint8Array;
  readonly n: number;
}

interface Side {
  send(n: number): Promise<Wire>;
  receive(w: Wire): Promise<Uint8Array>;
}

function quintetSide(q: Party): Side {
  const cipher = new SessionCipher(q.ctx, q.stores, LIB);
  return {
    async send(n) {
      const out = await cipher.encrypt(plaintextFor(n));
      assert.equal(out.body[0], PQ_VERSION_BYTE, 'Quintet sends version 4');
      return { prekey: out.type === 'prekey', body: out.body, n };
    },
    receive(w) {
      return w.prekey
        ? cipher.decryptPreKeySignalMessage(w.body)
        : cipher.decryptSignalMessage(w.body);
    },
  };
}

function libSide(lib: LibsignalDevice): Side {
  return {
    async send(n) {
      return { ...(await lib.encrypt(QUINTET, ab(plaintextFor(n)))), n };
    },
    receive(w) {
      return lib.decrypt(QUINTET, { prekey: w.prekey, body: ab(w.body) });
    },
  };
}

/** Alternating bursts of 1–6; every third reversed; every 7th message after turn 1 dropped. */
async function converse(
  first: Side,
  second: Side,
): Promise<{ sent: [number, number]; epochs: Set<number> }> {
  const sent: [number, number] = [0, 0];
  const epochs = new Set<number>();
  let n = 0;
  for (let turn = 0; turn < TURNS; turn++) {
    const fromFirst = turn % 2 === 0;
    const [from, to] = fromFirst ? [first, second] : [second, first];
    const burst: Wire[] = [];
    for (let i = 0; i < 1 + ((turn * 5 + 3) % 6); i++) burst.push(await from.send(n++));
    sent[fromFirst ? 0 : 1] += burst.length;
    for (const w of turn % 3 === 2 ? [...burst].reverse() : burst) {
      const inner = w.prekey
        ? PreKeySignalMessageV4.deserialize(w.body).message
        : SignalMessageV4.deserialize(w.body);
      const spqr = decodeSpqrMessage(inner.pqRatchet);
      assert.ok(spqr !== undefined, 'every message carries SPQR');
      epochs.add(spqr.epoch);
      if (turn >= 2 && w !== burst[0] && w.n % 7 === 3) continue;
      assert.deepEqual(await to.receive(w), plaintextFor(w.n), `message ${w.n}, turn ${turn}`);
    }
  }
  return { sent, epochs };
}

describe('session API v4: libsignal-client 0.103 → Quintet (Quintet answers from its stores)', () => {
  for (const oneTime of [true, false]) {
    it(`${oneTime ? 'with' : 'without'} a one-time EC prekey`, async () => {
      const q = await makeParty('quintet', 1, seededRandom(`api-l2q-${oneTime}`));
      const identity = await q.stores.identity.getIdentityKeyPair();
      const kyber = await generateKyberPreKey(q.ctx, identity, 77);
      await q.stores.kyberPreKeys.storeKyberPreKey(kyber.id, kyber);
      const ours = await q.bundle({ oneTime });
      const bundle = Signal.PreKeyBundle.new(
        ours.registrationId,
        1,
        ours.preKeyId ?? null,
        ours.preKey === undefined
          ? null
          : Signal.PublicKey.deserialize(ab(ours.preKey.serialize())),
        ours.signedPreKeyId,
        Signal.PublicKey.deserialize(ab(ours.signedPreKey.serialize())),
        ab(ours.signedPreKeySignature),
        Signal.PublicKey.deserialize(ab(ours.identityKey.serialize())),
        kyber.id,
        Signal.KEMPublicKey.deserialize(ab(kyber.keyPair.publicKey.serialize())),
        ab(kyber.signature),
      );
      const lib = new LibsignalDevice('lib', 1, 1234);
      await lib.processBundle(QUINTET, bundle);
      const { sent, epochs } = await converse(libSide(lib), quintetSide(q));
      assert.ok(sent[0] >= 50 && sent[1] >= 50, `messages each way: ${sent.join(', ')}`);
      assert.ok(epochs.size >= 3, `SPQR epochs seen: ${[...epochs].join(', ')}`);
      assert.equal((await q.stores.sessions.loadSession(LIB))?.current?.sessionVersion, 4);
      assert.equal(await q.stores.kyberPreKeys.loadKyberPreKey(77), undefined, 'KEM prekey used');
      if (ours.preKeyId !== undefined) {
        assert.equal(await q.stores.preKeys.loadPreKey(ours.preKeyId), undefined);
      }
      const record = await lib.sessions.getSession(QUINTET);
      assert.ok(record !== null && record.hasCurrentState(), 'libsignal: session is current');
    });
  }
});

describe('session API v4: Quintet → libsignal-client 0.103 (processPreKeyBundle on its bundle)', () => {
  for (const oneTime of [true, false]) {
    it(`${oneTime ? 'with' : 'without'} a one-time EC prekey`, async () => {
      const q = await makeParty('quintet', 1, seededRandom(`api-q2l-${oneTime}`));
      const lib = new LibsignalDevice('lib', 1, 777);
      const full = await lib.bundle();
      const oneTimeKey = full.preKeyPublic();
      await processPreKeyBundle(q.ctx, q.stores, LIB, {
        registrationId: full.registrationId(),
        deviceId: full.deviceId(),
        ...(oneTime && oneTimeKey !== null
          ? {
              preKeyId: full.preKeyId() ?? 0,
              preKey: PublicKey.deserialize(oneTimeKey.serialize()),
            }
          : {}),
        signedPreKeyId: full.signedPreKeyId(),
        signedPreKey: PublicKey.deserialize(full.signedPreKeyPublic().serialize()),
        signedPreKeySignature: full.signedPreKeySignature(),
        identityKey: PublicKey.deserialize(full.identityKey().serialize()),
        kyberPreKeyId: full.kyberPreKeyId(),
        kyberPreKey: KemPublicKey.deserialize(full.kyberPreKeyPublic().serialize()),
        kyberPreKeySignature: full.kyberPreKeySignature(),
      });
      const { sent, epochs } = await converse(quintetSide(q), libSide(lib));
      assert.ok(sent[0] >= 50 && sent[1] >= 50, `messages each way: ${sent.join(', ')}`);
      assert.ok(epochs.size >= 3, `SPQR epochs seen: ${[...epochs].join(', ')}`);
      const record = await lib.sessions.getSession(QUINTET);
      assert.ok(record !== null && record.hasCurrentState(), 'libsignal: session is current');
    });
  }
});
