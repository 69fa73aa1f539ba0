/**
 * Linking over raw frames with real ADV signatures (src/protocol/adv): a
 * companion opens a link, the primary approves it, the companion completes.
 */
import assert from 'node:assert/strict';
import { nodeCrypto } from '../../../src/crypto/node.js';
import type { LinkApproved, Response } from '../../../src/gen/quintet/v1/transport_pb.js';
import {
  acceptLinkPayload,
  createSignedDeviceIdentity,
  wrapWithHmac,
} from '../../../src/protocol/adv/index.js';
import type { ProtocolContext } from '../../../src/protocol/context.js';
import {
  challenge,
  newIdentity,
  oneTimePreKeys,
  signAuth,
  signedList,
  signedPreKey,
  TEST_RAW_ID,
  type ConnectedDevice,
  type TestIdentity,
} from './device.js';
import { RawClient } from './raw-client.js';

const random = (n: number): Uint8Array => nodeCrypto.randomBytes(n);
const ctx: ProtocolContext = { crypto: nodeCrypto, random, clock: { now: () => Date.now() } };

/** A companion connection waiting on a link reference. */
export interface WaitingCompanion {
  readonly client: RawClient;
  readonly identity: TestIdentity;
  readonly linkingSecret: Uint8Array;
  readonly ref: string;
  readonly expiresAt: bigint;
}

/** Connects anonymously and opens a link. */
export async function openCompanion(wsUrl: string): Promise<WaitingCompanion> {
  const client = await RawClient.connect(wsUrl);
  const opened = await client.request({ case: 'openLink', value: {} });
  assert.equal(opened.error, undefined, opened.error?.message);
  assert.ok(opened.body.case === 'openLink');
  return {
    client,
    identity: await newIdentity(),
    linkingSecret: random(32),
    ref: opened.body.value.ref,
    expiresAt: opened.body.value.expiresAt,
  };
}

/** Options of `approveOver`. */
export interface ApproveOptions {
  readonly keyIndex: number;
  /** Timestamp of the new signed list (seconds; the registration list is 1000). */
  readonly listTimestamp: number;
  /** Indexes of companions already linked (the new one is added). */
  readonly otherIndexes?: readonly number[];
  /** Replaces the signed list sent. */
  readonly signedKeyIndexList?: Uint8Array;
  /** Replaces the reference sent. */
  readonly ref?: string;
  /** Replaces the companion identity key the primary vouches for. */
  readonly companionIdentity?: TestIdentity;
}

/** The primary approves `companion`; returns the raw response. */
export async function approveOver(
  primary: ConnectedDevice,
  companion: WaitingCompanion,
  options: ApproveOptions,
): Promise<Response> {
  const vouched = options.companionIdentity ?? companion.identity;
  const identity = await createSignedDeviceIdentity(ctx, {
    accountKeyPair: primary.identity.identity,
    companionIdentityKey: vouched.identity.publicKey,
    keyIndex: options.keyIndex,
    rawId: TEST_RAW_ID,
    timestamp: options.listTimestamp,
  });
  const payload = await wrapWithHmac(ctx, companion.linkingSecret, identity);
  const list =
    options.signedKeyIndexList ??
    (await signedList(primary.identity, {
      timestamp: options.listTimestamp,
      validIndexes: [...(options.otherIndexes ?? []), options.keyIndex],
    }));
  return primary.client.request({
    case: 'approveLink',
    value: {
      ref: options.ref ?? companion.ref,
      companionIdentityKey: vouched.identity.publicKey.serialize(),
      payload,
      signedKeyIndexList: list,
      keyIndex: options.keyIndex,
    },
  });
}

/** Waits for the `LinkApproved` push on the companion connection. */
export async function linkApproved(companion: WaitingCompanion): Promise<LinkApproved> {
  const push = await companion.client.nextPush();
  assert.ok(push.kind.case === 'linkApproved', `expected linkApproved, got ${push.kind.case}`);
  return push.kind.value;
}

/** Options of `completeOver`. */
export interface CompleteOptions {
  /** Sign and present this identity instead of the approved one. */
  readonly identity?: TestIdentity;
  /** Replace the auth signature. */
  readonly signature?: Uint8Array;
  /** Replace the signed device identity. */
  readonly signedDeviceIdentity?: Uint8Array;
  readonly linkToken?: Uint8Array;
  /** First KEM prekeys sent with the completion (default: none, a v3-only device). */
  readonly kemPreKeys?: ReadonlyArray<{ id: number; publicKey: Uint8Array; signature: Uint8Array }>;
  readonly lastResortKemPreKey?: { id: number; publicKey: Uint8Array; signature: Uint8Array };
}

/** The companion verifies the payload, countersigns and completes; returns the raw response. */
export async function completeOver(
  companion: WaitingCompanion,
  approved: LinkApproved,
  options: CompleteOptions = {},
): Promise<Response> {
  const accepted = await acceptLinkPayload(ctx, {
    linkingSecret: companion.linkingSecret,
    companionIdentityKeyPair: companion.identity.identity,
    hmacBytes: approved.payload,
  });
  const identity = options.identity ?? companion.identity;
  const nonce = await challenge(companion.client);
  return companion.client.request({
    case: 'completeLink',
    value: {
      linkToken: options.linkToken ?? approved.linkToken,
      identityKey: identity.identity.publicKey.serialize(),
      registrationId: identity.registrationId,
      signedDeviceIdentity: options.signedDeviceIdentity ?? accepted.signedIdentity,
      nonce,
      signature:
        options.signature ?? (await signAuth(identity, nonce, approved.account, approved.deviceId)),
      signedPreKey: await signedPreKey(identity),
      preKeys: await oneTimePreKeys(2),
      deviceName: 'companion',
      kemPreKeys: [...(options.kemPreKeys ?? [])],
      lastResortKemPreKey: options.lastResortKemPreKey,
    },
  });
}

/** A linked, connected companion, with its signed identity. */
export interface LinkedCompanion extends ConnectedDevice {
  readonly keyIndex: number;
}

/** Links one companion end to end and waits for its `QueueDrained`. */
export async function linkCompanion(
  wsUrl: string,
  primary: ConnectedDevice,
  options: ApproveOptions,
): Promise<LinkedCompanion> {
  const companion = await openCompanion(wsUrl);
  const approval = await approveOver(primary, companion, options);
  assert.equal(approval.error, undefined, approval.error?.message);
  const approved = await linkApproved(companion);
  const completed = await completeOver(companion, approved);
  assert.equal(completed.error, undefined, completed.error?.message);
  assert.equal((await companion.client.nextPush()).kind.case, 'queueDrained');
  return {
    client: companion.client,
    account: primary.account,
    deviceId: approved.deviceId,
    identity: companion.identity,
    keyIndex: options.keyIndex,
  };
}

/** Asserts `response` failed with `code`. */
export function assertError(response: Response, code: string): void {
  assert.equal(response.error?.code, code, response.error?.message);
}
