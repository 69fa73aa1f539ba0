/**
 * PQXDH with @signalapp/libsignal-client 0.103, live, both directions.
 *
 * libsignal → Quintet: libsignal-client builds a session from a Quintet
 * bundle (Kyber1024 prekey signed by Quintet's identity key) and encrypts;
 * Quintet parses the v4 prekey message, runs PQXDH (decapsulating libsignal's
 * Kyber ciphertext), derives the SPQR epoch-0 keys and decrypts.
 *
 * Quintet → libsignal: Quintet runs PQXDH on a libsignal-client bundle and
 * sends a v4 prekey message. Without an SPQR message libsignal 0.103 refuses
 * it ("post-quantum ratchet error: Minimum version", its sessions require
 * SPQR v1); with a well-formed SPQR v1 header chunk it decrypts it.
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
import { KemKeyType } from '../../src/protocol/pq/kem.js';
import {
  generateKyberPreKey,
  verifiedKemPreKey,
} from '../../src/protocol/pq/kyber-prekey-record.js';
import {
  PQ_VERSION_BYTE,
  PreKeySignalMessageV4,
  SignalMessageV4,
} from '../../src/protocol/pq/messages-v4.js';
import { startAuthenticator, verifyHeader } from '../../src/protocol/pq/spqr-authenticator.js';
import { encodeChunk, SpqrChunkDecoder } from '../../src/protocol/pq/spqr-erasure.js';
import {
  decodeSpqrMessage,
  encodeSpqrMessage,
  SpqrMessageType,
  type SpqrChunk,
} from '../../src/protocol/pq/spqr-message.js';
import { generatePreKeys, generateSignedPreKey } from '../../src/protocol/prekeys.js';
import { processPreKeyBundle } from '../../src/protocol/session-builder.js';
import { SessionCipher } from '../../src/protocol/session-cipher.js';
import { FirstFlightReceiver, firstFlightSender } from '../protocol/pq/first-flight.js';
import { makeParty } from '../protocol/session-helpers.js';

type Bytes = Uint8Array<ArrayBuffer>;
const ab = (bytes: Uint8Array): Bytes => new Uint8Array(bytes);
const text = (s: string): Bytes => new TextEncoder().encode(s);
const str = (b: Uint8Array): string => new TextDecoder().decode(b);

const ctx: ProtocolContext = {
  crypto: nodeCrypto,
  random: (n) => nodeCrypto.randomBytes(n),
  clock: systemClock,
};

/** A Quintet device's published keys, as a libsignal-client bundle. */
async function quintetBob(oneTime: boolean) {
  const identity = await generateSigningKeyPair(ctx.crypto, ctx.random);
  const signed = await generateSignedPreKey(ctx, identity, 5);
  const [preKey] = await generatePreKeys(ctx, 31, 1);
  assert.ok(preKey !== undefined);
  const kyber = await generateKyberPreKey(ctx, identity, 77);
  const bundle = Signal.PreKeyBundle.new(
    4242,
    3,
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
  return {
    bundle,
    keys: {
      identity,
      signedPreKey: signed.keyPair,
      oneTimePreKey: oneTime ? preKey.keyPair : undefined,
      kemSecretKey: kyber.keyPair.secretKey,
    },
    preKeyId: preKey.id,
    kyberId: kyber.id,
  };
}

const bobAddress = Signal.ProtocolAddress.new('bob', 3);
const quintetBobAddress = protocolAddress('bob', 3);

/**
 * libsignal reports a failed prekey decryption as "decryption failed" and
 * logs the reason per session state; its log is where the reason is read.
 */
const libsignalLog: string[] = [];
Signal.initLogger(Signal.LogLevel.Warn, (_level, _target, _file, _line, message) => {
  libsignalLog.push(message);
});

describe('PQXDH: libsignal-client 0.103 → Quintet', () => {
  for (const oneTime of [true, false]) {
    it(`decrypts libsignal's first messages (${oneTime ? 'with' : 'without'} a one-time EC prekey)`, async () => {
      const bob = await quintetBob(oneTime);
      const alice = new LibsignalDevice('alice', 1, 1234);
      // libsignal verifies both signatures here: ours must be accepted.
      await alice.processBundle(bobAddress, bob.bundle);
      const sent = [];
      for (const line of ['first PQ message', '', 'third, a bit longer '.repeat(40)]) {
        sent.push({ line, wire: await alice.encrypt(bobAddress, text(line)) });
      }
      const first = sent[0];
      assert.ok(first !== undefined && first.wire.prekey);
      assert.equal(first.wire.body[0], PQ_VERSION_BYTE);
      const receiver = await FirstFlightReceiver.start(ctx, bob.keys, first.wire.body);
      assert.equal(receiver.message.kyberPreKeyId, bob.kyberId);
      assert.equal(receiver.message.preKeyId, oneTime ? bob.preKeyId : undefined);
      assert.equal(receiver.message.kyberCiphertext[0], KemKeyType.kyber1024);
      for (const { line, wire } of sent) {
        assert.ok(wire.prekey, 'unacknowledged: every message is a prekey message');
        const parsed = (await FirstFlightReceiver.start(ctx, bob.keys, wire.body)).message;
        // libsignal's first flight carries SPQR v1 messages on epoch 1.
        const spqr = decodeSpqrMessage(parsed.message.pqRatchet);
        assert.ok(spqr !== undefined);
        assert.equal(spqr.epoch, 1);
        assert.equal(str(await receiver.decrypt(parsed.message)), line);
      }
    });
  }

  it("libsignal's SPQR header chunks: our erasure decoder rebuilds them, our encoder reproduces its parity chunks, and the header MAC verifies under PQXDH's PQR key", async () => {
    const bob = await quintetBob(true);
    const alice = new LibsignalDevice('alice', 1, 1234);
    await alice.processBundle(bobAddress, bob.bundle);
    const chunks: SpqrChunk[] = [];
    let receiver: FirstFlightReceiver | undefined;
    for (let i = 0; i < 6; i++) {
      const wire = await alice.encrypt(bobAddress, text(`message ${i}`));
      receiver ??= await FirstFlightReceiver.start(ctx, bob.keys, wire.body);
      const spqr = decodeSpqrMessage(
        PreKeySignalMessageV4.deserialize(wire.body).message.pqRatchet,
      );
      assert.ok(spqr?.chunk !== undefined && spqr.type === SpqrMessageType.header);
      chunks.push(spqr.chunk);
    }
    assert.ok(receiver !== undefined);
    assert.deepEqual(
      chunks.map((c) => c.index),
      [0, 1, 2, 3, 4, 5],
    );
    // Header (64 bytes) ‖ MAC (32 bytes) = 96 bytes: three chunks rebuild it.
    const fromSystematic = new SpqrChunkDecoder(96);
    for (const c of chunks.slice(0, 3)) fromSystematic.add(c);
    const fromParity = new SpqrChunkDecoder(96);
    for (const c of [chunks[5], chunks[3], chunks[1]]) if (c !== undefined) fromParity.add(c);
    const blob = fromSystematic.decoded();
    assert.ok(blob !== undefined);
    assert.deepEqual(fromParity.decoded(), blob);
    for (const c of chunks) assert.deepEqual(encodeChunk(blob, c.index), c);
    const auth = await startAuthenticator(ctx.crypto, receiver.keys.pqrKey);
    assert.ok(await verifyHeader(ctx.crypto, auth, 1, blob.subarray(0, 64), blob.subarray(64)));
    assert.ok(!(await verifyHeader(ctx.crypto, auth, 2, blob.subarray(0, 64), blob.subarray(64))));
  });

  it('a flipped bit in the Kyber ciphertext makes the first message fail its MAC', async () => {
    const bob = await quintetBob(true);
    const alice = new LibsignalDevice('alice', 1, 1234);
    await alice.processBundle(bobAddress, bob.bundle);
    const wire = await alice.encrypt(bobAddress, text('tampered'));
    const receiver = await FirstFlightReceiver.start(ctx, bob.keys, wire.body);
    const honest = receiver.message;
    const ct = new Uint8Array(honest.kyberCiphertext);
    ct[100] = (ct[100] ?? 0) ^ 1;
    const tampered = await FirstFlightReceiver.start(ctx, bob.keys, reencode(wire.body, ct));
    await assert.rejects(tampered.decrypt(tampered.message.message), { code: 'bad-mac' });
  });
});

/** The same prekey message with another Kyber ciphertext (field 8 replaced in place). */
function reencode(body: Uint8Array, ciphertext: Uint8Array): Uint8Array {
  const out = new Uint8Array(body);
  const at = out.length - ciphertext.length;
  // Field 8 is written last: the ciphertext is the message's tail.
  out.set(ciphertext, at);
  return out;
}

describe('PQXDH: Quintet → libsignal-client 0.103', () => {
  async function setup(oneTime: boolean) {
    const bob = new LibsignalDevice('bob', 3, 777);
    const full = await bob.bundle();
    const identity = await generateSigningKeyPair(ctx.crypto, ctx.random);
    const identityKey = PublicKey.deserialize(full.identityKey().serialize());
    const signedPreKey = PublicKey.deserialize(full.signedPreKeyPublic().serialize());
    assert.ok(
      await verify(ctx.crypto, identityKey, signedPreKey.serialize(), full.signedPreKeySignature()),
    );
    const kyberPreKey = await verifiedKemPreKey(
      ctx.crypto,
      identityKey,
      full.kyberPreKeyPublic().serialize(),
      full.kyberPreKeySignature(),
    );
    const oneTimeKey = full.preKeyPublic();
    const sender = await firstFlightSender(
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
    );
    return { bob, sender, alice: Signal.ProtocolAddress.new('alice', 1) };
  }

  it('without an SPQR message: refused with "post-quantum ratchet error: Minimum version"', async () => {
    const { bob, sender, alice } = await setup(true);
    const body = await sender.encrypt(text('no SPQR'), () => new Uint8Array(0));
    libsignalLog.length = 0;
    await assert.rejects(bob.decrypt(alice, { prekey: true, body: ab(body) }), (error: Error) => {
      assert.match(error.message, /decryption failed/);
      return true;
    });
    assert.ok(
      libsignalLog.some((line) => line.includes('post-quantum ratchet error: Minimum version')),
      `libsignal's log names the reason: ${libsignalLog.join(' | ')}`,
    );
    // Nothing was stored: the session store has no session for Alice.
    assert.equal(await bob.sessions.getSession(alice), null);
  });

  for (const oneTime of [true, false]) {
    it(`with an SPQR v1 header chunk: libsignal decrypts the first message (${oneTime ? 'with' : 'without'} a one-time EC prekey)`, async () => {
      const { bob, sender, alice } = await setup(oneTime);
      // A header chunk of epoch 1 whose index is the SPQR chain key used.
      // libsignal buffers header chunks until it can decode the whole
      // header (64 + 32 bytes: three chunks), so one chunk is accepted unchecked: this
      // proves PQXDH, the v4 formats and the SPQR epoch-0 keys, not SPQR.
      const chunk = ctx.random(32);
      const body = await sender.encrypt(text('hello libsignal, from Quintet'), (index) =>
        encodeSpqrMessage({
          epoch: 1,
          index,
          type: SpqrMessageType.header,
          chunk: { index: 0, data: chunk },
        }),
      );
      const plaintext = await bob.decrypt(alice, { prekey: true, body: ab(body) });
      assert.equal(str(plaintext), 'hello libsignal, from Quintet');
      const record = await bob.sessions.getSession(alice);
      assert.ok(record !== null);
      // libsignal answers on a new DH chain with an SPQR message of its own
      // (no chunk yet: it has not decoded a header); Quintet decrypts it.
      const reply = await bob.encrypt(alice, text('hello Quintet, from libsignal'));
      assert.equal(reply.prekey, false);
      const spqr = decodeSpqrMessage(SignalMessageV4.deserialize(reply.body).pqRatchet);
      assert.deepEqual(spqr && { epoch: spqr.epoch, index: spqr.index, type: spqr.type }, {
        epoch: 1,
        index: 1,
        type: SpqrMessageType.none,
      });
      assert.equal(str(await sender.decryptReply(reply.body)), 'hello Quintet, from libsignal');
    });
  }

  it('a message MACed with the wrong SPQR key is refused', async () => {
    const { bob, sender, alice } = await setup(true);
    const chunk = ctx.random(32);
    // Claim index 2 while the key of index 1 was used: libsignal derives
    // another SPQR key and the MAC fails.
    const body = await sender.encrypt(text('wrong index'), () =>
      encodeSpqrMessage({
        epoch: 1,
        index: 2,
        type: SpqrMessageType.header,
        chunk: { index: 0, data: chunk },
      }),
    );
    libsignalLog.length = 0;
    await assert.rejects(bob.decrypt(alice, { prekey: true, body: ab(body) }), /decryption failed/);
    assert.ok(
      libsignalLog.some((line) => line.includes('MAC verification failed')),
      libsignalLog.join(' | '),
    );
    assert.equal(await bob.sessions.getSession(alice), null);
  });

  it('refuses today\'s v3 (X3DH) prekey messages: "X3DH no longer supported"', async () => {
    const bob = new LibsignalDevice('bob', 3, 777);
    const full = await bob.bundle();
    const quintet = await makeParty('alice', 1);
    const preKey = full.preKeyPublic();
    assert.ok(preKey !== null);
    // Quintet's default (v3) session from the EC half of libsignal's bundle.
    await processPreKeyBundle(quintet.ctx, quintet.stores, quintetBobAddress, {
      registrationId: full.registrationId(),
      deviceId: 3,
      preKeyId: full.preKeyId() ?? 0,
      preKey: PublicKey.deserialize(preKey.serialize()),
      signedPreKeyId: full.signedPreKeyId(),
      signedPreKey: PublicKey.deserialize(full.signedPreKeyPublic().serialize()),
      signedPreKeySignature: full.signedPreKeySignature(),
      identityKey: PublicKey.deserialize(full.identityKey().serialize()),
    });
    const cipher = new SessionCipher(quintet.ctx, quintet.stores, quintetBobAddress);
    const v3 = await cipher.encrypt(text('a v3 message'));
    assert.equal(v3.type, 'prekey');
    await assert.rejects(
      bob.decrypt(Signal.ProtocolAddress.new('alice', 1), { prekey: true, body: ab(v3.body) }),
      /X3DH no longer supported/,
    );
  });
});
