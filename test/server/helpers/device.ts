/**
 * A test device: identity key, registration id and prekeys, plus helpers to
 * register and authenticate over a `RawClient`.
 */
import assert from 'node:assert/strict';
import { nodeCrypto } from '../../../src/crypto/node.js';
import {
  generateKeyPair,
  generateSigningKeyPair,
  sign,
  type KeyPair,
} from '../../../src/protocol/curve.js';
import type { Response } from '../../../src/gen/quintet/v1/transport_pb.js';
import { createSignedKeyIndexList } from '../../../src/protocol/adv/index.js';
import { authenticationPayload } from '../../../src/wire/auth.js';
import { DEFAULT_PRE_KEY_LOW_THRESHOLD } from '../../../src/wire/limits.js';
import { RawClient } from './raw-client.js';

const random = (n: number): Uint8Array => nodeCrypto.randomBytes(n);

/** A device's long-term keys as a test holds them. */
export interface TestIdentity {
  readonly identity: KeyPair;
  readonly registrationId: number;
}

/** A fresh identity. */
export async function newIdentity(
  registrationId = 1 + Math.floor(Math.random() * 16000),
): Promise<TestIdentity> {
  return { identity: await generateSigningKeyPair(nodeCrypto, random), registrationId };
}

/** Signs the auth payload for a nonce. */
export function signAuth(
  identity: TestIdentity,
  nonce: Uint8Array,
  account: string,
  deviceId: number,
): Promise<Uint8Array> {
  return sign(
    nodeCrypto,
    identity.identity.privateKey,
    authenticationPayload(nonce, account, deviceId),
    random,
  );
}

/** A signed prekey by `identity`. */
export async function signedPreKey(
  identity: TestIdentity,
  id = 1,
): Promise<{ id: number; publicKey: Uint8Array; signature: Uint8Array }> {
  const pair = await generateKeyPair(nodeCrypto, random);
  const publicKey = pair.publicKey.serialize();
  const signature = await sign(nodeCrypto, identity.identity.privateKey, publicKey, random);
  return { id, publicKey, signature };
}

/** `count` one-time prekeys with ids from `firstId`. */
export async function oneTimePreKeys(
  count: number,
  firstId = 1,
): Promise<Array<{ id: number; publicKey: Uint8Array }>> {
  const keys = [];
  for (let i = 0; i < count; i++) {
    const pair = await generateKeyPair(nodeCrypto, random);
    keys.push({ id: firstId + i, publicKey: pair.publicKey.serialize() });
  }
  return keys;
}

/** A fixed epoch id for test lists (any 32-bit value works). */
export const TEST_RAW_ID = 0x51a7e;

/** Options of `signedList`. */
export interface SignedListOptions {
  /** Seconds; default 1000 (tests only need them to grow). */
  readonly timestamp?: number;
  readonly currentIndex?: number;
  readonly validIndexes?: readonly number[];
  readonly rawId?: number;
}

/** An `ADVSignedKeyIndexList` signed by `identity` (the account key). */
export function signedList(
  identity: TestIdentity,
  options: SignedListOptions = {},
): Promise<Uint8Array> {
  const validIndexes = options.validIndexes ?? [];
  return createSignedKeyIndexList(
    { crypto: nodeCrypto, random, clock: { now: () => Date.now() } },
    {
      accountKeyPair: identity.identity,
      rawId: options.rawId ?? TEST_RAW_ID,
      timestamp: options.timestamp ?? 1000,
      currentIndex: options.currentIndex ?? Math.max(0, ...validIndexes),
      validIndexes,
    },
  );
}

/** Gets a nonce over `client`. */
export async function challenge(client: RawClient): Promise<Uint8Array> {
  const response = await client.request({ case: 'challenge', value: {} });
  assert.equal(response.error, undefined);
  assert.equal(response.body.case, 'challenge');
  return response.body.value.nonce;
}

/** Options of `registerOver`. */
export interface RegisterOptions {
  readonly token?: string;
  /**
   * One-time prekeys to upload; default: as many as the default "prekeys
   * low" threshold, so a login is not answered with `PreKeysLow` first.
   */
  readonly preKeys?: number;
  readonly deviceName?: string;
  /** The signed device list to send; default: a fresh primary-only list. */
  readonly signedKeyIndexList?: Uint8Array;
  /** First KEM prekeys sent with the registration (default: none, a v3-only device). */
  readonly kemPreKeys?: ReadonlyArray<{ id: number; publicKey: Uint8Array; signature: Uint8Array }>;
  readonly lastResortKemPreKey?: { id: number; publicKey: Uint8Array; signature: Uint8Array };
}

/** Sends a complete, validly signed register request; returns the raw response. */
export async function registerOver(
  client: RawClient,
  account: string,
  identity: TestIdentity,
  options: RegisterOptions = {},
): Promise<Response> {
  const nonce = await challenge(client);
  return client.request({
    case: 'register',
    value: {
      account,
      identityKey: identity.identity.publicKey.serialize(),
      registrationId: identity.registrationId,
      nonce,
      signature: await signAuth(identity, nonce, account, 1),
      registrationToken: options.token ?? '',
      signedPreKey: await signedPreKey(identity),
      preKeys: await oneTimePreKeys(options.preKeys ?? DEFAULT_PRE_KEY_LOW_THRESHOLD),
      deviceName: options.deviceName ?? 'test',
      signedKeyIndexList: options.signedKeyIndexList ?? (await signedList(identity)),
      kemPreKeys: [...(options.kemPreKeys ?? [])],
      lastResortKemPreKey: options.lastResortKemPreKey,
    },
  });
}

/** Authenticates `client` as `account`.`deviceId`; returns the raw response. */
export async function authenticateOver(
  client: RawClient,
  account: string,
  deviceId: number,
  identity: TestIdentity,
): Promise<Response> {
  const nonce = await challenge(client);
  return client.request({
    case: 'authenticate',
    value: {
      account,
      deviceId,
      nonce,
      signature: await signAuth(identity, nonce, account, deviceId),
    },
  });
}

/** A registered, connected device. */
export interface ConnectedDevice {
  readonly client: RawClient;
  readonly account: string;
  readonly deviceId: number;
  readonly identity: TestIdentity;
}

/** Connects and registers a new account; asserts success and waits for QueueDrained. */
export async function registeredDevice(
  wsUrl: string,
  account: string,
  options: RegisterOptions = {},
): Promise<ConnectedDevice> {
  const client = await RawClient.connect(wsUrl);
  const identity = await newIdentity();
  const response = await registerOver(client, account, identity, options);
  assert.equal(response.error?.code, undefined, response.error?.message);
  assert.equal(response.body.case, 'register');
  const push = await client.nextPush();
  assert.equal(push.kind.case, 'queueDrained');
  return { client, account, deviceId: 1, identity };
}

/** Reconnects an existing device; asserts success (pushes are left for the caller). */
export async function reconnect(wsUrl: string, device: ConnectedDevice): Promise<ConnectedDevice> {
  const client = await RawClient.connect(wsUrl);
  const response = await authenticateOver(client, device.account, device.deviceId, device.identity);
  assert.equal(response.error?.code, undefined, response.error?.message);
  return { ...device, client };
}

/** A send of one envelope per listed device. */
export function sendTo(
  client: RawClient,
  destination: string,
  devices: ReadonlyArray<{ deviceId: number; registrationId: number }>,
  content: Uint8Array = new Uint8Array([1, 2, 3]),
): Promise<Response> {
  return client.request({
    case: 'sendMessage',
    value: {
      destination,
      timestamp: 1234n,
      envelopes: devices.map((d) => ({
        deviceId: d.deviceId,
        registrationId: d.registrationId,
        type: 1,
        content,
      })),
    },
  });
}
