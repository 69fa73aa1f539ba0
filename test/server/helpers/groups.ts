/**
 * Group test helpers: builds and signs `GroupChange`s the way a client does
 * (independently of the client code, so server tests do not lean on it),
 * and the chain hash of a link.
 */
import assert from 'node:assert/strict';
import { create, toBinary } from '@bufbuild/protobuf';
import { nodeCrypto } from '../../../src/crypto/node.js';
import {
  GroupChange_Action,
  GroupChangeSchema,
  SignedGroupChangeSchema,
  type SignedGroupChange,
} from '../../../src/gen/quintet/v1/groups_pb.js';
import type { Push, Response } from '../../../src/gen/quintet/v1/transport_pb.js';
import { sign } from '../../../src/protocol/curve.js';
import type { ConnectedDevice, TestIdentity } from './device.js';

export { GroupChange_Action };

const random = (n: number): Uint8Array => nodeCrypto.randomBytes(n);
const DOMAIN = new TextEncoder().encode('quintet-group-change-v1');

/** The fields a test sets on a change; the rest default sensibly. */
export interface ChangeFields {
  readonly groupId: Uint8Array;
  readonly version: number;
  readonly previousHash?: Uint8Array;
  readonly action: GroupChange_Action;
  readonly target?: string;
  readonly members: ReadonlyArray<{ account: string; admin: boolean }>;
  readonly name?: string;
}

/** Signs `fields` as `author` (device `deviceId`), optionally with another key (a forgery). */
export async function signChange(
  author: { account: string; deviceId: number; identity: TestIdentity },
  fields: ChangeFields,
  options: { signWith?: TestIdentity; changeBytes?: Uint8Array } = {},
): Promise<SignedGroupChange> {
  const change =
    options.changeBytes ??
    toBinary(
      GroupChangeSchema,
      create(GroupChangeSchema, {
        groupId: fields.groupId,
        version: fields.version,
        previousHash: fields.previousHash ?? new Uint8Array(0),
        action: fields.action,
        target: fields.target ?? '',
        members: fields.members.map((m) => ({ account: m.account, admin: m.admin })),
        name: fields.name ?? 'test group',
        author: author.account,
        authorDevice: author.deviceId,
        timestamp: 1234n,
      }),
    );
  const payload = new Uint8Array(DOMAIN.length + 1 + change.length);
  payload.set(DOMAIN, 0);
  payload.set(change, DOMAIN.length + 1);
  const signer = options.signWith ?? author.identity;
  return create(SignedGroupChangeSchema, {
    change,
    authorIdentityKey: author.identity.identity.publicKey.serialize(),
    signature: await sign(nodeCrypto, signer.identity.privateKey, payload, random),
  });
}

/** SHA-256 of a link's canonical bytes: the next link's `previous_hash`. */
export function linkHash(signed: SignedGroupChange): Promise<Uint8Array> {
  return nodeCrypto.sha256(toBinary(SignedGroupChangeSchema, signed));
}

/** A fresh random group id. */
export function newGroupId(): Uint8Array {
  return random(16);
}

/** Creates a group with `author` as admin and `others` as plain members; returns id and head. */
export async function createGroupOver(
  author: ConnectedDevice,
  others: readonly string[],
): Promise<{ groupId: Uint8Array; head: SignedGroupChange }> {
  const groupId = newGroupId();
  const head = await signChange(author, {
    groupId,
    version: 0,
    action: GroupChange_Action.CREATE,
    members: [
      { account: author.account, admin: true },
      ...others.map((account) => ({ account, admin: false })),
    ],
  });
  const response = await author.client.request({ case: 'createGroup', value: { change: head } });
  assert.equal(response.error?.code, undefined, response.error?.message);
  return { groupId, head };
}

/** Asserts `push` is `GroupChanged` for `groupId`. */
export function assertGroupChanged(push: Push, groupId: Uint8Array): void {
  assert.equal(push.kind.case, 'groupChanged');
  assert.ok(push.kind.case === 'groupChanged');
  assert.deepEqual(new Uint8Array(push.kind.value.groupId), groupId);
}

/** Asserts success. */
export function assertOk(response: Response): void {
  assert.equal(response.error?.code, undefined, response.error?.message);
}
