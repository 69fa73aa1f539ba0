/**
 * Snapshots of the exact ADV bytes made from fixed inputs, so that any
 * format change (field numbers, ordering, signature prefixes) fails here,
 * and a cross-check of the hand-written codec against the code `buf
 * generate` makes from proto/quintet/v1/adv.proto.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import {
  ADVDeviceIdentitySchema,
  ADVKeyIndexListSchema,
  ADVSignedDeviceIdentityHMACSchema,
  ADVSignedDeviceIdentitySchema,
  ADVSignedKeyIndexListSchema,
} from '../../../src/gen/quintet/v1/adv_pb.js';
import { concatBytes } from '../../../src/protocol/bytes.js';
import { ProtoWriter } from '../../../src/protocol/wire.js';
import { AdvError } from '../../../src/protocol/adv/errors.js';
import {
  decodeDeviceIdentity,
  decodeKeyIndexList,
  decodeSignedDeviceIdentity,
  decodeSignedDeviceIdentityHmac,
  decodeSignedKeyIndexList,
  encodeDeviceIdentity,
  encodeKeyIndexList,
} from '../../../src/protocol/adv/adv-messages.js';
import {
  acceptLinkPayload,
  createSignedDeviceIdentity,
  wrapWithHmac,
} from '../../../src/protocol/adv/device-identity.js';
import { createSignedKeyIndexList } from '../../../src/protocol/adv/device-list.js';
import { encodeLinkCode } from '../../../src/protocol/adv/link-code.js';
import { fromHex, hex, keyPair, linkingSecret, makeContext, T0 } from './adv-helpers.js';

async function fixedLink() {
  const ctx = makeContext('snapshot');
  const account = await keyPair('snapshot-account');
  const companion = await keyPair('snapshot-companion');
  const secret = linkingSecret('snapshot');
  const signed = await createSignedDeviceIdentity(ctx, {
    accountKeyPair: account,
    companionIdentityKey: companion.publicKey,
    keyIndex: 5,
    rawId: 0x01020304,
    timestamp: T0,
  });
  const hmacBytes = await wrapWithHmac(ctx, secret, signed);
  const accepted = await acceptLinkPayload(ctx, {
    linkingSecret: secret,
    companionIdentityKeyPair: companion,
    hmacBytes,
  });
  const list = await createSignedKeyIndexList(ctx, {
    accountKeyPair: account,
    rawId: 0x01020304,
    timestamp: T0,
    currentIndex: 200,
    validIndexes: [2, 5, 200],
  });
  return { account, companion, secret, hmacBytes, signedIdentity: accepted.signedIdentity, list };
}

/**
 * Fixed bytes. The signatures are deterministic because identity keys sign
 * with native Ed25519 (RFC 8032 signing is deterministic).
 */
const SNAPSHOT = {
  hmacPayload:
    '0a730a0d08848688081080f2d6ca06180512209cc3b791b4282008d09fcb521ff4e32ec614b93037a285e4e4ac35eb6c19f7391a40b8d1f032972cb74b3388b0b5cd66c5f0b8435bf994e82b33f0c226a175dd2d6c24d942cd5aa240a2b2e051d0f26808af923ebddd8487e73966725f01800b8f091220f0c6a293a028fb56f7ed98f4bab044ac51553896a1b96fb6e7a156d7f155a68b',
  signedIdentity:
    '0a0d08848688081080f2d6ca06180512209cc3b791b4282008d09fcb521ff4e32ec614b93037a285e4e4ac35eb6c19f7391a40b8d1f032972cb74b3388b0b5cd66c5f0b8435bf994e82b33f0c226a175dd2d6c24d942cd5aa240a2b2e051d0f26808af923ebddd8487e73966725f01800b8f0922401bf6f67d8984573b4c910567669f9470746cdaee7178376d59ffa17a0926cf9bceed1cf72e8da280acb5f4b6ffb90a0748681209d602f6f251becb9d17322c80',
  signedList:
    '0a1408848688081080f2d6ca0618c80122040205c8011240a4ba9c262ed93e0746e86a2355e73740207a739f6a36a19c8d516fcda1f5ddbf10855f4cb00697040dbb1f85a665f4d812a60efc5bb7de4d4fb9551c46760f091a209cc3b791b4282008d09fcb521ff4e32ec614b93037a285e4e4ac35eb6c19f739',
  linkCode:
    'quintet://link#1,ref-0001,BeoldXMWT6-dAizushdtKnC66dVBrXfNZVaYqZiY1eAi,ZNnJ3WQNjJRyx8fo3XROYuJuVKN9OKP7te4AV9qTJSY,cli',
};

describe('ADV wire format', () => {
  it('ADVDeviceIdentity and ADVKeyIndexList encode to fixed bytes', () => {
    // rawId=1 (08 01), timestamp=T0 (10 varint), keyIndex=3 (18 03).
    assert.equal(
      hex(encodeDeviceIdentity({ rawId: 1, timestamp: T0, keyIndex: 3 })),
      '080110' + varintHex(T0) + '1803',
    );
    // validIndexes packed: field 4, wire type 2 (22), length 3: 01, then 300 = ac 02.
    assert.equal(
      hex(
        encodeKeyIndexList({ rawId: 1, timestamp: T0, currentIndex: 300, validIndexes: [1, 300] }),
      ),
      '080110' + varintHex(T0) + '18ac02' + '2203' + '01ac02',
    );
  });

  it('the linking payload, signed identity, list and link code match their snapshots', async () => {
    const f = await fixedLink();
    const actual = {
      hmacPayload: hex(f.hmacBytes),
      signedIdentity: hex(f.signedIdentity),
      signedList: hex(f.list),
      linkCode: encodeLinkCode({
        ref: 'ref-0001',
        identityKey: f.companion.publicKey,
        linkingSecret: f.secret,
        platform: 'cli',
      }),
    };
    assert.deepEqual(actual, SNAPSHOT);
  });

  it('the generated protobuf code reads the hand-written bytes identically', async () => {
    const f = await fixedLink();
    const hmac = fromBinary(ADVSignedDeviceIdentityHMACSchema, f.hmacBytes);
    const ours = decodeSignedDeviceIdentityHmac(f.hmacBytes);
    assert.deepEqual(hmac.details, ours.details);
    assert.deepEqual(hmac.hmac, ours.hmac);

    const signed = fromBinary(ADVSignedDeviceIdentitySchema, f.signedIdentity);
    const oursSigned = decodeSignedDeviceIdentity(f.signedIdentity);
    assert.deepEqual(signed.accountSignatureKey, oursSigned.accountSignatureKey);
    assert.deepEqual(signed.accountSignature, oursSigned.accountSignature);
    assert.deepEqual(signed.deviceSignature, oursSigned.deviceSignature);
    const identity = fromBinary(ADVDeviceIdentitySchema, signed.details);
    assert.equal(identity.rawId, 0x01020304);
    assert.equal(identity.timestamp, BigInt(T0));
    assert.equal(identity.keyIndex, 5);
    // Re-encoding with the generated code gives the same bytes: field order
    // and encoding agree.
    assert.deepEqual(toBinary(ADVSignedDeviceIdentitySchema, signed), f.signedIdentity);
    assert.deepEqual(toBinary(ADVDeviceIdentitySchema, identity), oursSigned.details);

    const list = fromBinary(ADVSignedKeyIndexListSchema, f.list);
    const oursList = decodeSignedKeyIndexList(f.list);
    assert.deepEqual(list.accountSignatureKey, f.account.publicKey.raw);
    assert.deepEqual(list.accountSignature, oursList.accountSignature);
    const details = fromBinary(ADVKeyIndexListSchema, list.details);
    assert.deepEqual(details.validIndexes, [2, 5, 200]);
    assert.equal(details.currentIndex, 200);
    assert.deepEqual(toBinary(ADVKeyIndexListSchema, details), oursList.details);
    assert.deepEqual(toBinary(ADVSignedKeyIndexListSchema, list), f.list);
  });

  it('refuses unsigned wrappers that are not in canonical form', async () => {
    const f = await fixedLink();
    const invalid = (e: unknown): boolean => AdvError.is(e, 'invalid-message');
    // An unknown field appended to each wrapper (field 15, varint 0).
    const extra = Uint8Array.of(0x78, 0x00);
    assert.throws(() => decodeSignedDeviceIdentity(concatBytes(f.signedIdentity, extra)), invalid);
    assert.throws(() => decodeSignedDeviceIdentityHmac(concatBytes(f.hmacBytes, extra)), invalid);
    assert.throws(() => decodeSignedKeyIndexList(concatBytes(f.list, extra)), invalid);
    // The same fields in another order.
    const s = decodeSignedKeyIndexList(f.list);
    const reordered = new ProtoWriter()
      .bytes(3, s.accountSignatureKey)
      .bytes(1, s.details)
      .bytes(2, s.accountSignature)
      .finish();
    assert.throws(() => decodeSignedKeyIndexList(reordered), invalid);
    // An over-long length varint: 0x0d written as 8d 00.
    const id = f.signedIdentity;
    const overlong = concatBytes(id.subarray(0, 1), Uint8Array.of(0x8d, 0x00), id.subarray(2));
    assert.equal(id[1], 0x0d);
    assert.throws(() => decodeSignedDeviceIdentity(overlong), invalid);
    // A repeated field.
    assert.throws(() => decodeSignedDeviceIdentity(concatBytes(id, id.subarray(0, 15))), invalid);
  });

  it('skips unknown fields inside signed details (forward compatibility)', () => {
    const details = concatBytes(
      encodeDeviceIdentity({ rawId: 1, timestamp: T0, keyIndex: 2 }),
      Uint8Array.of(0x78, 0x05),
    );
    assert.deepEqual(decodeDeviceIdentity(details), { rawId: 1, timestamp: T0, keyIndex: 2 });
  });

  it('reads validIndexes written unpacked by another encoder', () => {
    const details = create(ADVKeyIndexListSchema, {
      rawId: 9,
      timestamp: BigInt(T0),
      currentIndex: 4,
      validIndexes: [1, 4],
    });
    const packed = toBinary(ADVKeyIndexListSchema, details);
    assert.deepEqual(decodeKeyIndexList(packed).validIndexes, [1, 4]);
    // The same list with field 4 unpacked (20 01 20 04).
    const unpacked = fromHex('0809' + '10' + varintHex(T0) + '1804' + '2001' + '2004');
    assert.deepEqual(decodeKeyIndexList(unpacked), {
      rawId: 9,
      timestamp: T0,
      currentIndex: 4,
      validIndexes: [1, 4],
    });
  });
});

function varintHex(value: number): string {
  const out: number[] = [];
  let v = value;
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
  return hex(Uint8Array.from(out));
}
