/**
 * Interop with the npm `libsignal` package (libsignal v3 in JavaScript): both
 * directions of session setup (with and without a one-time prekey), many DH
 * ratchet turns, out-of-order delivery, messages that must decrypt under
 * archived session states, and plaintexts from 0 bytes to 64 KiB across the
 * AES block boundaries.
 */
import assert from 'node:assert/strict';
import { before, describe, it, mock } from 'node:test';
import { PublicKey } from '../../src/protocol/curve.js';
import { processPreKeyBundle } from '../../src/protocol/session-builder.js';
import { SessionCipher, type CiphertextMessage } from '../../src/protocol/session-cipher.js';
import { LibsignalPeer } from './libsignal-adapter.js';
import { fromUtf8, makeParty, utf8, type Party } from './session-helpers.js';

/** libsignal's wire types: 3 = PreKeyWhisperMessage, 1 = WhisperMessage. */
const LS_PREKEY = 3;

before(() => {
  // libsignal narrates session changes on the console; keep test output readable.
  for (const name of ['info', 'warn', 'error', 'log'] as const)
    mock.method(console, name, () => undefined);
});

interface Pair {
  q: Party;
  qCipher: SessionCipher;
  l: LibsignalPeer;
  lCipher: ReturnType<LibsignalPeer['cipher']>;
}

async function pair(): Promise<Pair> {
  const q = await makeParty('quintet', 1);
  const l = new LibsignalPeer('lib');
  const lAddress = { name: 'lib', deviceId: q.address.deviceId };
  return {
    q,
    qCipher: new SessionCipher(q.ctx, q.stores, lAddress),
    l,
    lCipher: l.cipher('quintet', 1),
  };
}

/** Quintet starts a session from libsignal's bundle (with a one-time prekey unless `oneTime` is false). */
async function quintetInitiates(p: Pair, oneTime = true): Promise<void> {
  const b = p.l.bundle({ oneTime });
  await processPreKeyBundle(
    p.q.ctx,
    p.q.stores,
    { name: 'lib', deviceId: p.q.address.deviceId },
    {
      registrationId: b.registrationId,
      deviceId: 1,
      ...(b.preKeyId !== undefined && b.preKey !== undefined
        ? { preKeyId: b.preKeyId, preKey: PublicKey.deserialize(b.preKey) }
        : {}),
      signedPreKeyId: b.signedPreKeyId,
      signedPreKey: PublicKey.deserialize(b.signedPreKey),
      signedPreKeySignature: b.signature,
      identityKey: PublicKey.deserialize(b.identityKey),
    },
  );
}

/** libsignal starts a session from Quintet's bundle (with a one-time prekey unless `oneTime` is false). */
async function libsignalInitiates(p: Pair, oneTime = true): Promise<void> {
  const b = await p.q.bundle({ oneTime });
  assert.equal(b.preKey !== undefined && b.preKeyId !== undefined, oneTime);
  const builder = new (await import('./libsignal-adapter.js')).libsignal.SessionBuilder(
    p.l.storage,
    p.l.address('quintet', 1),
  );
  await builder.initOutgoing({
    identityKey: Buffer.from(b.identityKey.serialize()),
    registrationId: b.registrationId,
    ...(b.preKeyId !== undefined && b.preKey !== undefined
      ? { preKey: { keyId: b.preKeyId, publicKey: Buffer.from(b.preKey.serialize()) } }
      : {}),
    signedPreKey: {
      keyId: b.signedPreKeyId,
      publicKey: Buffer.from(b.signedPreKey.serialize()),
      signature: Buffer.from(b.signedPreKeySignature),
    },
  });
}

async function toLib(p: Pair, m: CiphertextMessage): Promise<string> {
  const body = Buffer.from(m.body);
  const out =
    m.type === 'prekey'
      ? await p.lCipher.decryptPreKeyWhisperMessage(body)
      : await p.lCipher.decryptWhisperMessage(body);
  return fromUtf8(out);
}

async function toQuintet(p: Pair, m: { type: number; body: Buffer }): Promise<string> {
  const out =
    m.type === LS_PREKEY
      ? await p.qCipher.decryptPreKeySignalMessage(m.body)
      : await p.qCipher.decryptSignalMessage(m.body);
  return fromUtf8(out);
}

const fromLib = (p: Pair, text: string): Promise<{ type: number; body: Buffer }> =>
  p.lCipher.encrypt(Buffer.from(text));

/** Six ping-pong rounds, two messages each way: at least five DH ratchet turns per side. */
async function pingPong(p: Pair, quintetFirst: boolean): Promise<void> {
  for (let round = 0; round < 6; round++) {
    const qSend = async (): Promise<void> => {
      for (let i = 0; i < 2; i++) {
        const text = `q${round}.${i}`;
        assert.equal(await toLib(p, await p.qCipher.encrypt(utf8(text))), text);
      }
    };
    const lSend = async (): Promise<void> => {
      for (let i = 0; i < 2; i++) {
        const text = `l${round}.${i}`;
        assert.equal(await toQuintet(p, await fromLib(p, text)), text);
      }
    };
    if (quintetFirst) {
      await qSend();
      await lSend();
    } else {
      await lSend();
      await qSend();
    }
  }
}

describe('interop with npm libsignal', () => {
  it('Quintet initiates, libsignal responds, many ratchet turns', async () => {
    const p = await pair();
    await quintetInitiates(p);
    const first = await p.qCipher.encrypt(utf8('hello libsignal'));
    assert.equal(first.type, 'prekey');
    assert.equal(await toLib(p, first), 'hello libsignal');
    const reply = await fromLib(p, 'hello quintet');
    assert.notEqual(reply.type, LS_PREKEY);
    assert.equal(await toQuintet(p, reply), 'hello quintet');
    assert.equal((await p.qCipher.encrypt(utf8('now plain'))).type, 'signal');
    await pingPong(p, true);
    assert.equal(await p.qCipher.remoteRegistrationId(), p.l.registrationId);
  });

  it('libsignal initiates, Quintet responds, many ratchet turns', async () => {
    const p = await pair();
    await libsignalInitiates(p);
    const first = await fromLib(p, 'hello quintet');
    assert.equal(first.type, LS_PREKEY);
    assert.equal(await toQuintet(p, first), 'hello quintet');
    // The one-time prekey is consumed once the session is stored.
    assert.equal(await p.q.stores.preKeys.loadPreKey(1), undefined);
    // libsignal keeps sending prekey messages until it hears back; they reuse the session.
    const second = await fromLib(p, 'again');
    assert.equal(second.type, LS_PREKEY);
    assert.equal(await toQuintet(p, second), 'again');
    const reply = await p.qCipher.encrypt(utf8('hi lib'));
    assert.equal(reply.type, 'signal');
    assert.equal(await toLib(p, reply), 'hi lib');
    await pingPong(p, false);
    assert.equal(await p.qCipher.remoteRegistrationId(), p.l.registrationId);
  });

  it('delivers out of order in both directions, across ratchet steps', async () => {
    const p = await pair();
    await quintetInitiates(p);
    assert.equal(await toLib(p, await p.qCipher.encrypt(utf8('start'))), 'start');
    assert.equal(await toQuintet(p, await fromLib(p, 'ack')), 'ack');

    // Quintet → libsignal: three on one chain, a ratchet step, two on the next.
    const early = [];
    for (let i = 0; i < 3; i++) early.push(await p.qCipher.encrypt(utf8(`a${i}`)));
    assert.equal(await toQuintet(p, await fromLib(p, 'step')), 'step');
    const late = [];
    for (let i = 0; i < 2; i++) late.push(await p.qCipher.encrypt(utf8(`b${i}`)));
    const order: Array<[CiphertextMessage | undefined, string]> = [
      [late[1], 'b1'],
      [early[2], 'a2'],
      [late[0], 'b0'],
      [early[0], 'a0'],
      [early[1], 'a1'],
    ];
    for (const [m, text] of order) {
      assert.ok(m !== undefined);
      assert.equal(await toLib(p, m), text);
    }

    // libsignal → Quintet: the same shape the other way.
    const lEarly = [];
    for (let i = 0; i < 3; i++) lEarly.push(await fromLib(p, `c${i}`));
    assert.equal(await toLib(p, await p.qCipher.encrypt(utf8('step back'))), 'step back');
    const lLate = [];
    for (let i = 0; i < 3; i++) lLate.push(await fromLib(p, `d${i}`));
    const lOrder: Array<[{ type: number; body: Buffer } | undefined, string]> = [
      [lLate[2], 'd2'],
      [lEarly[1], 'c1'],
      [lLate[0], 'd0'],
      [lEarly[2], 'c2'],
      [lLate[1], 'd1'],
      [lEarly[0], 'c0'],
    ];
    for (const [m, text] of lOrder) {
      assert.ok(m !== undefined);
      assert.equal(await toQuintet(p, m), text);
    }
    await pingPong(p, true);
  });

  it('decrypts libsignal messages in flight under an archived Quintet state', async () => {
    const p = await pair();
    await quintetInitiates(p);
    assert.equal(await toLib(p, await p.qCipher.encrypt(utf8('s1'))), 's1');
    assert.equal(await toQuintet(p, await fromLib(p, 's1 reply')), 's1 reply');
    const inFlight = [await fromLib(p, 'old 1'), await fromLib(p, 'old 2')];

    // Quintet starts over from a new bundle: the first session is archived.
    await quintetInitiates(p);
    assert.equal(await toLib(p, await p.qCipher.encrypt(utf8('s2'))), 's2');
    const record = await p.q.stores.sessions.loadSession({
      name: 'lib',
      deviceId: p.q.address.deviceId,
    });
    assert.equal(record?.previous.length, 1);

    assert.equal(await toQuintet(p, inFlight[1] ?? assert.fail()), 'old 2');
    assert.equal(await toQuintet(p, inFlight[0] ?? assert.fail()), 'old 1');
    // And the conversation carries on.
    assert.equal(await toQuintet(p, await fromLib(p, 'on s2')), 'on s2');
    await pingPong(p, true);
  });

  it('decrypts libsignal messages in flight across a libsignal re-initiation', async () => {
    const p = await pair();
    await libsignalInitiates(p);
    assert.equal(await toQuintet(p, await fromLib(p, 's1')), 's1');
    assert.equal(await toLib(p, await p.qCipher.encrypt(utf8('s1 reply'))), 's1 reply');
    const inFlight = [await fromLib(p, 'old 1'), await fromLib(p, 'old 2')];

    await libsignalInitiates(p);
    const fresh = await fromLib(p, 's2');
    assert.equal(fresh.type, LS_PREKEY);
    assert.equal(await toQuintet(p, fresh), 's2');
    // The old session's messages still open (its state was archived, now promoted).
    assert.equal(await toQuintet(p, inFlight[1] ?? assert.fail()), 'old 2');
    assert.equal(await toQuintet(p, inFlight[0] ?? assert.fail()), 'old 1');
    // libsignal keeps using its new session; Quintet follows it back.
    // (Quintet is not made to send on the old state here: npm libsignal tries
    // its newest session first and, unlike Quintet, keeps the changes a failed
    // attempt made to it, which would break libsignal's own new session.)
    assert.equal(await toQuintet(p, await fromLib(p, 'again')), 'again');
    await pingPong(p, false);
  });

  for (const quintetFirst of [true, false]) {
    const who = quintetFirst ? 'Quintet' : 'libsignal';
    it(`${who} initiates from a bundle without a one-time prekey`, async () => {
      const p = await pair();
      if (quintetFirst) {
        await quintetInitiates(p, false);
        const first = await p.qCipher.encrypt(utf8('no one-time prekey'));
        assert.equal(first.type, 'prekey');
        assert.equal(await toLib(p, first), 'no one-time prekey');
        assert.equal(await toQuintet(p, await fromLib(p, 'reply')), 'reply');
      } else {
        const before = await p.q.stores.preKeys.loadPreKey(1);
        await libsignalInitiates(p, false);
        const first = await fromLib(p, 'no one-time prekey');
        assert.equal(first.type, LS_PREKEY);
        assert.equal(await toQuintet(p, first), 'no one-time prekey');
        // No one-time prekey was named, so none is consumed.
        assert.deepEqual(await p.q.stores.preKeys.loadPreKey(1), before);
        assert.equal(await toLib(p, await p.qCipher.encrypt(utf8('reply'))), 'reply');
      }
      await pingPong(p, quintetFirst);
    });
  }

  // Block boundaries of AES-CBC (15, 16, 17 bytes), empty, a few KiB, 64 KiB,
  // in both directions, before and after a ratchet turn.
  const sizes = [0, 1, 15, 16, 17, 31, 32, 33, 1000, 4096, 4097, 65_535, 65_536];
  const payload = (size: number, salt: number): Uint8Array =>
    Uint8Array.from({ length: size }, (_, i) => (i * 31 + salt) & 0xff);

  for (const oneTime of [true, false]) {
    it(`carries plaintexts of 0 to 64 KiB both ways (${oneTime ? 'with' : 'without'} a one-time prekey)`, async () => {
      const p = await pair();
      await quintetInitiates(p, oneTime);
      for (const [round, size] of sizes.entries()) {
        const out = payload(size, round);
        const m = await p.qCipher.encrypt(out);
        const body = Buffer.from(m.body);
        const got =
          m.type === 'prekey'
            ? await p.lCipher.decryptPreKeyWhisperMessage(body)
            : await p.lCipher.decryptWhisperMessage(body);
        assert.deepEqual(new Uint8Array(got), out, `Quintet → libsignal, ${size} bytes`);
        const back = payload(size, round + 100);
        const reply = await p.lCipher.encrypt(Buffer.from(back));
        const opened =
          reply.type === LS_PREKEY
            ? await p.qCipher.decryptPreKeySignalMessage(reply.body)
            : await p.qCipher.decryptSignalMessage(reply.body);
        assert.deepEqual(opened, back, `libsignal → Quintet, ${size} bytes`);
      }
    });
  }
});
