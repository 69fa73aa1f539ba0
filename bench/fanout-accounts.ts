/**
 * Fixtures for `bench/fanout.ts`: multi-device accounts with real ADV
 * material (signed companion identities, a signed key-index list), and an
 * in-process transport that answers the client core's requests from them.
 * The transport serializes every request frame it is given, so building the
 * request counts, but no socket or server is involved: the bench measures
 * the client core, not the network.
 */
import { create } from '@bufbuild/protobuf';
import {
  acceptLinkPayload,
  createSignedDeviceIdentity,
  createSignedKeyIndexList,
  wrapWithHmac,
} from '../src/protocol/adv/index.js';
import type { ProtocolContext } from '../src/protocol/context.js';
import { generateSigningKeyPair, type KeyPair } from '../src/protocol/curve.js';
import {
  generatePreKeys,
  generateRegistrationId,
  generateSignedPreKey,
} from '../src/protocol/prekeys.js';
import {
  DeviceInfoSchema,
  GetDevicesResponseSchema,
  GetPreKeyBundlesResponseSchema,
  PreKeyBundleSchema,
  ResponseSchema,
  SendMessageResponseSchema,
  type DeviceInfo,
  type PreKeyBundle,
  type Push,
  type Response,
} from '../src/gen/quintet/v1/transport_pb.js';
import type { Transport } from '../src/client/core/transport.js';
import { encodeFrame, requestFrame, type RequestBody } from '../src/wire/frame.js';

/** One device of a fixture account. */
export interface FixtureDevice {
  readonly deviceId: number;
  readonly identity: KeyPair;
  readonly registrationId: number;
  readonly signedIdentity: Uint8Array;
  readonly bundle: PreKeyBundle;
}

/** An account: primary (device 1) plus companions 2..n, with its signed list. */
export interface FixtureAccount {
  readonly name: string;
  readonly devices: readonly FixtureDevice[];
  readonly signedList: Uint8Array;
}

async function bundleFor(
  ctx: ProtocolContext,
  deviceId: number,
  identity: KeyPair,
  registrationId: number,
): Promise<PreKeyBundle> {
  const signed = await generateSignedPreKey(ctx, identity, 1);
  const [preKey] = await generatePreKeys(ctx, 1, 1);
  if (preKey === undefined) throw new Error('no prekey generated');
  return create(PreKeyBundleSchema, {
    deviceId,
    registrationId,
    identityKey: identity.publicKey.serialize(),
    signedPreKey: {
      id: signed.id,
      publicKey: signed.keyPair.publicKey.serialize(),
      signature: signed.signature,
    },
    preKey: { id: preKey.id, publicKey: preKey.keyPair.publicKey.serialize() },
  });
}

/**
 * An account with `deviceCount` devices. `primary` is the account key pair
 * (pass the sender's own identity to build its own account).
 */
export async function fixtureAccount(
  ctx: ProtocolContext,
  name: string,
  deviceCount: number,
  primary?: { identity: KeyPair; registrationId: number },
): Promise<FixtureAccount> {
  const accountKey = primary?.identity ?? (await generateSigningKeyPair(ctx.crypto, ctx.random));
  const rawId = 0x1234;
  const timestamp = Math.floor(ctx.clock.now() / 1000);
  const primaryRegistration = primary?.registrationId ?? generateRegistrationId(ctx.random);
  const devices: FixtureDevice[] = [
    {
      deviceId: 1,
      identity: accountKey,
      registrationId: primaryRegistration,
      signedIdentity: new Uint8Array(0),
      bundle: await bundleFor(ctx, 1, accountKey, primaryRegistration),
    },
  ];
  const indexes: number[] = [];
  for (let i = 2; i <= deviceCount; i++) {
    const identity = await generateSigningKeyPair(ctx.crypto, ctx.random);
    const keyIndex = i - 1;
    const secret = ctx.random(32);
    const unsigned = await createSignedDeviceIdentity(ctx, {
      accountKeyPair: accountKey,
      companionIdentityKey: identity.publicKey,
      keyIndex,
      rawId,
      timestamp,
    });
    const accepted = await acceptLinkPayload(ctx, {
      linkingSecret: secret,
      companionIdentityKeyPair: identity,
      hmacBytes: await wrapWithHmac(ctx, secret, unsigned),
    });
    const registrationId = generateRegistrationId(ctx.random);
    const bundle = await bundleFor(ctx, i, identity, registrationId);
    devices.push({
      deviceId: i,
      identity,
      registrationId,
      signedIdentity: accepted.signedIdentity,
      bundle: { ...bundle, signedDeviceIdentity: accepted.signedIdentity, keyIndex },
    });
    indexes.push(keyIndex);
  }
  const signedList = await createSignedKeyIndexList(ctx, {
    accountKeyPair: accountKey,
    rawId,
    timestamp,
    currentIndex: deviceCount - 1,
    validIndexes: indexes,
  });
  return { name, devices, signedList };
}

function deviceInfo(device: FixtureDevice): DeviceInfo {
  return create(DeviceInfoSchema, {
    deviceId: device.deviceId,
    registrationId: device.registrationId,
    identityKey: device.identity.publicKey.serialize(),
    keyIndex: device.deviceId - 1,
    signedDeviceIdentity: device.signedIdentity,
  });
}

/** Answers getDevices / getPreKeyBundles / sendMessage from fixture accounts. */
export class FixtureTransport implements Transport {
  readonly #accounts = new Map<string, FixtureAccount>();
  #nextId = 1n;
  /** Serialized request bytes, summed (keeps the encoding from being optimized away). */
  bytesSent = 0;
  readonly pushes: AsyncIterable<Push> = {
    [Symbol.asyncIterator]: () => ({ next: async () => ({ value: undefined, done: true }) }),
  };

  constructor(accounts: readonly FixtureAccount[]) {
    for (const account of accounts) this.#accounts.set(account.name, account);
  }

  async request(body: RequestBody): Promise<Response> {
    const id = this.#nextId++;
    this.bytesSent += encodeFrame(requestFrame(id, body)).length;
    const ok = (value: Response['body']): Response => create(ResponseSchema, { id, body: value });
    switch (body?.case) {
      case 'getDevices': {
        const account = this.#account(body.value.account ?? '');
        return ok({
          case: 'getDevices',
          value: create(GetDevicesResponseSchema, {
            devices: account.devices.map(deviceInfo),
            signedKeyIndexList: account.signedList,
          }),
        });
      }
      case 'getPreKeyBundles': {
        const account = this.#account(body.value.account ?? '');
        const wanted = body.value.deviceId ?? 0;
        return ok({
          case: 'getPreKeyBundles',
          value: create(GetPreKeyBundlesResponseSchema, {
            bundles: account.devices
              .filter((device) => wanted === 0 || device.deviceId === wanted)
              .map((device) => device.bundle),
            signedKeyIndexList: account.signedList,
          }),
        });
      }
      case 'sendMessage':
        return ok({
          case: 'sendMessage',
          value: create(SendMessageResponseSchema, { queuedOnly: false }),
        });
      default:
        throw new Error(`the bench transport does not answer ${String(body?.case)}`);
    }
  }

  #account(name: string): FixtureAccount {
    const account = this.#accounts.get(name);
    if (account === undefined) throw new Error(`unknown fixture account ${name}`);
    return account;
  }

  async close(): Promise<void> {}
}
