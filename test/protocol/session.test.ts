/**
 * Quintet ↔ Quintet sessions: setup, ratcheting, limits, failure atomicity,
 * randomness accounting and simultaneous initiation.
 */
import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { describe, it } from 'node:test';
import { nodeCrypto } from '../../src/crypto/node.js';
import { nextChainKey } from '../../src/protocol/chain-key.js';
import { generateSigningKeyPair } from '../../src/protocol/curve.js';
import { ProtocolError } from '../../src/protocol/errors.js';
import { PreKeySignalMessage } from '../../src/protocol/prekey-signal-message.js';
import { processPreKeyBundle } from '../../src/protocol/session-builder.js';
import { SessionCipher } from '../../src/protocol/session-cipher.js';
import { MAX_ARCHIVED_STATES } from '../../src/protocol/session-record.js';
import { MAX_RECEIVER_CHAINS, MAX_SKIPPED_MESSAGE_KEYS } from '../../src/protocol/session-state.js';
import {
  countingRandom,
  fromUtf8,
  makeParty,
  seededRandom,
  snapshotStores,
  utf8,
  type Party,
} from './session-helpers.js';

function ciphers(a: Party, b: Party): { ab: SessionCipher; ba: SessionCipher } {
  return {
    ab: new SessionCipher(a.ctx, a.stores, b.address),
    ba: new SessionCipher(b.ctx, b.stores, a.address),
  };
}

async function established(): Promise<{
  a: Party;
  b: Party;
  ab: SessionCipher;
  ba: SessionCipher;
}> {
  const a = await makeParty('alice');
  const b = await makeParty('bob');
  await processPreKeyBundle(a.ctx, a.stores, b.address, await b.bundle());
  const { ab, ba } = ciphers(a, b);
  assert.equal(
    fromUtf8(await ba.decryptPreKeySignalMessage((await ab.encrypt(utf8('hi'))).body)),
    'hi',
  );
  assert.equal(
    fromUtf8(await ab.decryptSignalMessage((await ba.encrypt(utf8('hey'))).body)),
    'hey',
  );
  return { a, b, ab, ba };
}

async function rejects(promise: Promise<unknown>, code: ProtocolError['code']): Promise<void> {
  await assert.rejects(promise, (e: unknown) => ProtocolError.is(e, code));
}

describe('session setup', () => {
  it('runs X3DH with and without a one-time prekey and consumes the prekey', async () => {
    for (const oneTime of [true, false]) {
      const a = await makeParty('alice');
      const b = await makeParty('bob');
      const bundle = await b.bundle({ oneTime });
      await processPreKeyBundle(a.ctx, a.stores, b.address, bundle);
      const { ab, ba } = ciphers(a, b);
      assert.equal(await ab.hasOpenSession(), true);
      assert.equal(await ba.hasOpenSession(), false);
      const m = await ab.encrypt(utf8('first'));
      assert.equal(m.type, 'prekey');
      const parsed = PreKeySignalMessage.deserialize(m.body);
      assert.equal(parsed.preKeyId, bundle.preKeyId);
      assert.equal(parsed.registrationId, a.registrationId);
      assert.ok(
        parsed.identityKey.equals((await a.stores.identity.getIdentityKeyPair()).publicKey),
      );
      assert.equal(fromUtf8(await ba.decryptPreKeySignalMessage(m.body)), 'first');
      if (bundle.preKeyId !== undefined)
        assert.equal(await b.stores.preKeys.loadPreKey(bundle.preKeyId), undefined);
      assert.equal(await ba.remoteRegistrationId(), a.registrationId);
      assert.equal(await ab.remoteRegistrationId(), b.registrationId);
      const reply = await ba.encrypt(utf8('reply'));
      assert.equal(reply.type, 'signal');
      assert.equal(fromUtf8(await ab.decryptSignalMessage(reply.body)), 'reply');
      assert.equal((await ab.encrypt(utf8('x'))).type, 'signal');
    }
  });

  it('refuses a bad signed-prekey signature and stores nothing', async () => {
    const a = await makeParty('alice');
    const b = await makeParty('bob');
    const bundle = await b.bundle();
    const bad = bundle.signedPreKeySignature.slice();
    bad[5] = (bad[5] ?? 0) ^ 1;
    const before = snapshotStores(a.stores);
    await rejects(
      processPreKeyBundle(a.ctx, a.stores, b.address, { ...bundle, signedPreKeySignature: bad }),
      'invalid-signature',
    );
    assert.equal(snapshotStores(a.stores), before);
  });

  it('refuses an untrusted identity when building and when receiving', async () => {
    const a = await makeParty('alice');
    const b = await makeParty('bob');
    const other = await generateSigningKeyPair(nodeCrypto, (n) => nodeCrypto.randomBytes(n));
    await a.stores.identity.saveIdentity(b.address, other.publicKey);
    const before = snapshotStores(a.stores);
    await rejects(
      processPreKeyBundle(a.ctx, a.stores, b.address, await b.bundle()),
      'untrusted-identity',
    );
    assert.equal(snapshotStores(a.stores), before);

    const c = await makeParty('carol');
    await processPreKeyBundle(c.ctx, c.stores, b.address, await b.bundle());
    await b.stores.identity.saveIdentity(c.address, other.publicKey);
    const m = await new SessionCipher(c.ctx, c.stores, b.address).encrypt(utf8('x'));
    const bBefore = snapshotStores(b.stores);
    await rejects(
      new SessionCipher(b.ctx, b.stores, c.address).decryptPreKeySignalMessage(m.body),
      'untrusted-identity',
    );
    assert.equal(snapshotStores(b.stores), bBefore);
  });

  it('says no-session without one and invalid-prekey-id for unknown prekeys', async () => {
    const a = await makeParty('alice');
    const b = await makeParty('bob');
    const { ab, ba } = ciphers(a, b);
    await rejects(ab.encrypt(utf8('x')), 'no-session');
    await rejects(ab.remoteRegistrationId(), 'no-session');
    await processPreKeyBundle(a.ctx, a.stores, b.address, await b.bundle());
    const m = await ab.encrypt(utf8('x'));
    await b.stores.preKeys.removePreKey(1);
    const before = snapshotStores(b.stores);
    await rejects(ba.decryptPreKeySignalMessage(m.body), 'invalid-prekey-id');
    assert.equal(snapshotStores(b.stores), before);
    await rejects(
      ba.decryptSignalMessage(PreKeySignalMessage.deserialize(m.body).message.serialized),
      'no-session',
    );
  });
});

describe('ratchet behaviour', () => {
  it('encrypts exact bytes of any length (no padding added or removed)', async () => {
    const { ab, ba } = await established();
    for (const length of [0, 1, 15, 16, 17, 255, 4096]) {
      const pt = nodeCrypto.randomBytes(length);
      const m = await ab.encrypt(pt);
      assert.deepEqual(await ba.decryptSignalMessage(m.body), pt);
    }
  });

  it('draws randomness only for the base key and ratchet keys', async () => {
    const ra = countingRandom(seededRandom('alice'));
    const rb = countingRandom(seededRandom('bob'));
    const a = await makeParty('alice', 1, ra.random);
    const b = await makeParty('bob', 1, rb.random);
    const bundle = await b.bundle();
    const { ab, ba } = ciphers(a, b);
    ra.reset();
    rb.reset();
    await processPreKeyBundle(a.ctx, a.stores, b.address, bundle);
    assert.deepEqual(ra.calls, [32, 32], 'initiator: base key, then first ratchet key');
    ra.reset();
    const m1 = await ab.encrypt(utf8('1'));
    const m2 = await ab.encrypt(utf8('2'));
    assert.deepEqual(ra.calls, [], 'encryption draws nothing');
    await ba.decryptPreKeySignalMessage(m1.body);
    assert.deepEqual(rb.calls, [32], 'responder: one ratchet key for the new remote ratchet key');
    rb.reset();
    await ba.decryptPreKeySignalMessage(m2.body);
    const r1 = await ba.encrypt(utf8('r1'));
    assert.deepEqual(rb.calls, [], 'same chain: nothing');
    await ab.decryptSignalMessage(r1.body);
    assert.deepEqual(ra.calls, [32], 'initiator answers the new ratchet key with one draw');
    ra.reset();
    // A forged message draws nothing either.
    const forged = (await ba.encrypt(utf8('f'))).body.slice();
    forged[forged.length - 1] = (forged[forged.length - 1] ?? 0) ^ 1;
    rb.reset();
    await rejects(ab.decryptSignalMessage(forged), 'bad-mac');
    assert.deepEqual(ra.calls, []);
  });

  it('refuses replays with duplicate-message and leaves stores unchanged', async () => {
    const { b, ab, ba } = await established();
    const m = await ab.encrypt(utf8('once'));
    await ba.decryptSignalMessage(m.body);
    const before = snapshotStores(b.stores);
    await rejects(ba.decryptSignalMessage(m.body), 'duplicate-message');
    assert.equal(snapshotStores(b.stores), before);
    // A skipped key is used once too.
    const s1 = await ab.encrypt(utf8('s1'));
    const s2 = await ab.encrypt(utf8('s2'));
    await ba.decryptSignalMessage(s2.body);
    await ba.decryptSignalMessage(s1.body);
    await rejects(ba.decryptSignalMessage(s1.body), 'duplicate-message');
  });

  it('reports bad-mac when no state authenticates the message', async () => {
    const { a, b, ab, ba } = await established();
    // Alice starts over, so Bob holds a current and an archived state and tries both.
    await processPreKeyBundle(a.ctx, a.stores, b.address, await b.bundle());
    await ba.decryptPreKeySignalMessage((await ab.encrypt(utf8('x'))).body);
    assert.equal((await b.stores.sessions.loadSession(a.address))?.previous.length, 1);
    await ab.decryptSignalMessage((await ba.encrypt(utf8('ok'))).body);
    const sent = await ab.encrypt(utf8('tamper'));
    assert.equal(sent.type, 'signal');
    const m = sent.body;
    for (const at of [m.length - 1, m.length - 12, 5]) {
      const bad = m.slice();
      bad[at] = (bad[at] ?? 0) ^ 0x40;
      const before = snapshotStores(b.stores);
      await assert.rejects(ba.decryptSignalMessage(bad), (e: unknown) => ProtocolError.is(e));
      assert.equal(snapshotStores(b.stores), before);
    }
    const bad = m.slice();
    bad[bad.length - 1] = (bad[bad.length - 1] ?? 0) ^ 1;
    await rejects(ba.decryptSignalMessage(bad), 'bad-mac');
    // The untouched message still decrypts.
    assert.equal(fromUtf8(await ba.decryptSignalMessage(m)), 'tamper');
  });

  it('keeps at most 2000 skipped keys and refuses jumps over 25000', async () => {
    const { a, b, ab, ba } = await established();
    // Move Alice's sending chain forward by really advancing its key.
    const record = await a.stores.sessions.loadSession(b.address);
    const sender = record?.current?.senderChain;
    assert.ok(record !== undefined && sender !== undefined);
    const start = sender.chainKey.index;
    let ck = sender.chainKey;
    while (ck.index < start + 2500) ck = await nextChainKey(nodeCrypto, ck);
    sender.chainKey = ck;
    await a.stores.sessions.storeSession(b.address, record);
    const far = await ab.encrypt(utf8('far'));
    assert.equal(fromUtf8(await ba.decryptSignalMessage(far.body)), 'far');
    const bRecord = await b.stores.sessions.loadSession(a.address);
    const chain = bRecord?.current?.receiverChains.at(-1);
    assert.equal(chain?.messageKeys.length, MAX_SKIPPED_MESSAGE_KEYS);
    assert.equal(chain?.messageKeys[0]?.index, start + 500);

    // Forward jump past the limit: refused before any key work.
    const rec2 = await a.stores.sessions.loadSession(b.address);
    const s2 = rec2?.current?.senderChain;
    assert.ok(rec2 !== undefined && s2 !== undefined);
    s2.chainKey = { key: s2.chainKey.key, index: s2.chainKey.index + 25_001 };
    await a.stores.sessions.storeSession(b.address, rec2);
    const before = snapshotStores(b.stores);
    await rejects(
      ba.decryptSignalMessage((await ab.encrypt(utf8('too far'))).body),
      'too-far-in-future',
    );
    assert.equal(snapshotStores(b.stores), before);
  });

  it('keeps at most 5 receiver chains and 40 archived states', async () => {
    const { a, b, ab, ba } = await established();
    for (let i = 0; i < 8; i++) {
      await ba.decryptSignalMessage((await ab.encrypt(utf8(`a${i}`))).body);
      await ab.decryptSignalMessage((await ba.encrypt(utf8(`b${i}`))).body);
    }
    const rec = await b.stores.sessions.loadSession(a.address);
    assert.equal(rec?.current?.receiverChains.length, MAX_RECEIVER_CHAINS);
    for (let i = 0; i < MAX_ARCHIVED_STATES + 3; i++) {
      await processPreKeyBundle(a.ctx, a.stores, b.address, await b.bundle({ oneTime: false }));
    }
    const aRec = await a.stores.sessions.loadSession(b.address);
    assert.equal(aRec?.previous.length, MAX_ARCHIVED_STATES);
  });

  it('serializes concurrent operations on one address', async () => {
    const { ab, ba } = await established();
    const sent = await Promise.all(Array.from({ length: 10 }, (_, i) => ab.encrypt(utf8(`c${i}`))));
    const got = await Promise.all(sent.map((m) => ba.decryptSignalMessage(m.body)));
    assert.deepEqual(
      got.map(fromUtf8),
      Array.from({ length: 10 }, (_, i) => `c${i}`),
    );
  });

  it('never prints secrets', async () => {
    const { a, b } = await established();
    const record = await a.stores.sessions.loadSession(b.address);
    const state = record?.current;
    assert.ok(record !== undefined && state !== undefined);
    const root = Buffer.from(state.rootKey).toString('hex');
    for (const shown of [
      String(record),
      JSON.stringify(record),
      inspect(record),
      String(state),
      inspect(state),
    ]) {
      assert.ok(!shown.includes(root));
      assert.ok(shown.length < 40);
    }
  });
});

describe('simultaneous initiation', () => {
  it('converges on one session without losing messages', async () => {
    const a = await makeParty('alice');
    const b = await makeParty('bob');
    const { ab, ba } = ciphers(a, b);
    await processPreKeyBundle(a.ctx, a.stores, b.address, await b.bundle());
    await processPreKeyBundle(b.ctx, b.stores, a.address, await a.bundle());
    const fromA = await ab.encrypt(utf8('a0'));
    const fromB = await ba.encrypt(utf8('b0'));
    assert.equal(fromA.type, 'prekey');
    assert.equal(fromB.type, 'prekey');
    assert.equal(fromUtf8(await ba.decryptPreKeySignalMessage(fromA.body)), 'a0');
    assert.equal(fromUtf8(await ab.decryptPreKeySignalMessage(fromB.body)), 'b0');
    const decrypt = (
      c: SessionCipher,
      m: { type: string; body: Uint8Array },
    ): Promise<Uint8Array> =>
      m.type === 'prekey' ? c.decryptPreKeySignalMessage(m.body) : c.decryptSignalMessage(m.body);
    for (let i = 1; i <= 3; i++) {
      const x = await ab.encrypt(utf8(`a${i}`));
      assert.equal(fromUtf8(await decrypt(ba, x)), `a${i}`);
      const y = await ba.encrypt(utf8(`b${i}`));
      assert.equal(fromUtf8(await decrypt(ab, y)), `b${i}`);
    }
    const ra = (await a.stores.sessions.loadSession(b.address))?.current;
    const rb = (await b.stores.sessions.loadSession(a.address))?.current;
    assert.ok(ra !== undefined && rb !== undefined);
    assert.deepEqual(ra.aliceBaseKey, rb.aliceBaseKey, 'both sides use the same session');
    assert.equal(ra.pendingPreKey, undefined);
    assert.equal(rb.pendingPreKey, undefined);
  });
});
