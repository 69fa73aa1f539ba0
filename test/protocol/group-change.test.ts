/**
 * The signed group-change format (src/protocol/group-change.ts), shared by
 * client and server. The fixed vector was signed by the format's earlier,
 * separate client implementation: chains stored before the two copies
 * became one must still decode, hash and verify byte for byte.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { create, toBinary } from '@bufbuild/protobuf';
import { nodeCrypto } from '../../src/crypto/node.js';
import { GroupChangeSchema, SignedGroupChangeSchema } from '../../src/gen/quintet/v1/groups_pb.js';
import {
  decodeSignedGroupChange,
  encodeGroupChange,
  encodeSignedGroupChange,
  GroupChangeFormatError,
  verifyGroupChangeSignature,
  type GroupChangeProblem,
} from '../../src/protocol/group-change.js';
import { parseSignedChange } from '../../src/client/core/groups/group-change.js';
import { GroupError } from '../../src/client/core/groups/errors.js';

const fromHex = (hex: string): Uint8Array => Uint8Array.from(Buffer.from(hex, 'hex'));

const IDENTITY = '05761d88ec830413919dfe9d4d1d56f17e653c8c994082df5b137b90a0ae6edf74';
/** create (alice admin, bob), then add carol: signed by alice's device 1. */
const LINKS = [
  '0a440a10abababababababababababababababab200132090a05616c696365100132050a03626f623a0c766563746f722067726f75704205616c69636548015080d095ffbc31122105761d88ec830413919dfe9d4d1d56f17e653c8c994082df5b137b90a0ae6edf741a40bed1fb83c25e4a7c762720a565499b6ee1d57e051630645245de97602c1f9e757740405cc5049a71ca3d17b3ad4a57cfc42656a796e5c932739173dab7ece00e',
  '0a780a10abababababababababababababababab10011a2094e44aabee158e889891c8a206cb2724d464f94905583d0f61dfe681cde8f44f20022a056361726f6c32090a05616c696365100132050a03626f6232070a056361726f6c3a0c766563746f722067726f75704205616c69636548015081d095ffbc31122105761d88ec830413919dfe9d4d1d56f17e653c8c994082df5b137b90a0ae6edf741a40e483a9df73228d616b996f7b71a2c4799cac961753fbd1f5cdf05fc508647bd1a9b9de4b528d70948b7b7bab9d14c828810cf134c16f299afefefab449b79c09',
].map(fromHex);

function link(index: number): Uint8Array {
  const bytes = LINKS[index];
  assert.ok(bytes !== undefined);
  return bytes;
}

function problemOf(run: () => unknown): GroupChangeProblem {
  try {
    run();
  } catch (error) {
    assert.ok(GroupChangeFormatError.isFormat(error), `not a format error: ${String(error)}`);
    return error.problem;
  }
  assert.fail('expected a format error');
}

/** A valid change's fields with `patch` applied, signed with a zero signature. */
function signedWith(
  patch: Record<string, unknown>,
  outer: Record<string, unknown> = {},
): Uint8Array {
  const change = toBinary(
    GroupChangeSchema,
    create(GroupChangeSchema, {
      groupId: new Uint8Array(16).fill(1),
      version: 0,
      action: 1,
      members: [{ account: 'alice', admin: true }],
      name: 'g',
      author: 'alice',
      authorDevice: 1,
      timestamp: 1n,
      ...patch,
    }),
  );
  return toBinary(
    SignedGroupChangeSchema,
    create(SignedGroupChangeSchema, {
      change,
      authorIdentityKey: fromHex(IDENTITY),
      signature: new Uint8Array(64),
      ...outer,
    }),
  );
}

describe('signed group-change format', () => {
  it('a stored chain from before still decodes, hashes and verifies byte for byte', async () => {
    const first = decodeSignedGroupChange(link(0));
    const second = decodeSignedGroupChange(link(1));
    assert.deepEqual(first.bytes, link(0), 'canonical bytes are the stored bytes');
    assert.deepEqual(second.bytes, link(1));
    assert.equal(Buffer.from(first.authorIdentityKey.serialize()).toString('hex'), IDENTITY);
    assert.equal(await verifyGroupChangeSignature(nodeCrypto, first), true);
    assert.equal(await verifyGroupChangeSignature(nodeCrypto, second), true);
    assert.deepEqual(second.change.previousHash, await nodeCrypto.sha256(first.bytes));
    assert.deepEqual(encodeGroupChange(first.change), first.changeBytes);
    assert.deepEqual(encodeGroupChange(second.change), second.changeBytes);
    assert.equal(first.change.action, 'create');
    assert.equal(second.change.action, 'add');
    assert.equal(second.change.target, 'carol');
    assert.deepEqual(
      second.change.members.map((m) => m.account),
      ['alice', 'bob', 'carol'],
    );
    assert.equal(second.change.timestamp, 1_700_000_000_001);
    assert.deepEqual(
      encodeSignedGroupChange({
        changeBytes: second.changeBytes,
        authorIdentityKey: second.authorIdentityKey.serialize(),
        signature: second.signature,
        authorDeviceIdentity: second.authorDeviceIdentity,
      }),
      link(1),
    );
  });

  it('a flipped bit in the signed change fails the signature', async () => {
    const decoded = decodeSignedGroupChange(link(1));
    const changeBytes = Uint8Array.from(decoded.changeBytes);
    changeBytes[changeBytes.length - 1] = (changeBytes[changeBytes.length - 1] ?? 0) ^ 1;
    assert.equal(await verifyGroupChangeSignature(nodeCrypto, { ...decoded, changeBytes }), false);
  });

  it('refuses malformed links with the part that is wrong', () => {
    const decode = (bytes: Uint8Array) => (): unknown => decodeSignedGroupChange(bytes);
    assert.equal(problemOf(decode(new Uint8Array([0xff, 0xff]))), 'change');
    assert.equal(problemOf(decode(signedWith({}, { signature: new Uint8Array(63) }))), 'envelope');
    assert.equal(
      problemOf(decode(signedWith({}, { authorIdentityKey: new Uint8Array(33) }))),
      'envelope',
    );
    assert.equal(
      problemOf(decode(signedWith({}, { authorDeviceIdentity: new Uint8Array(4097) }))),
      'envelope',
    );
    assert.equal(problemOf(decode(signedWith({}, { change: new Uint8Array(0) }))), 'change');
    assert.equal(problemOf(decode(signedWith({ groupId: new Uint8Array(15) }))), 'change');
    assert.equal(problemOf(decode(signedWith({ action: 0 }))), 'change');
    assert.equal(problemOf(decode(signedWith({ previousHash: new Uint8Array(31) }))), 'change');
    assert.equal(problemOf(decode(signedWith({ author: 'A!' }))), 'change');
    assert.equal(problemOf(decode(signedWith({ authorDevice: 0 }))), 'change');
    assert.equal(problemOf(decode(signedWith({ target: 'no way' }))), 'change');
    assert.equal(problemOf(decode(signedWith({ name: 'x'.repeat(257) }))), 'change');
    assert.equal(
      problemOf(decode(signedWith({ timestamp: BigInt(Number.MAX_SAFE_INTEGER) + 1n }))),
      'change',
    );
    const twice = [
      { account: 'alice', admin: true },
      { account: 'alice', admin: false },
    ];
    assert.equal(problemOf(decode(signedWith({ members: twice }))), 'change');
    const three = ['alice', 'bob', 'carol'].map((account) => ({ account, admin: false }));
    assert.equal(
      problemOf(() => decodeSignedGroupChange(signedWith({ members: three }), { maxMembers: 2 })),
      'too-many-members',
    );
    // The same link is fine under the default limit.
    assert.equal(decodeSignedGroupChange(signedWith({ members: three })).change.members.length, 3);
  });

  it('the client sees every format fault as GroupError invalid-change', () => {
    assert.throws(
      () => parseSignedChange(signedWith({ action: 0 })),
      (error: unknown) => GroupError.is(error, 'invalid-change'),
    );
    assert.equal(parseSignedChange(link(0)).change.name, 'vector group');
  });
});
