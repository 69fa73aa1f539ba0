/**
 * Typed calls on top of a `Transport`: one method per request, each checking
 * that the response carries the matching body and turning a server refusal
 * into `ClientError('server-error')` with the stable wire code and the
 * structured device lists the session manager needs.
 */
import type { MessageInitShape } from '@bufbuild/protobuf';
import type {
  AuthenticateResponse,
  CompleteLinkRequestSchema,
  CompleteLinkResponse,
  DeviceInfo,
  OpenLinkResponse,
  OutgoingEnvelopeSchema,
  PreKeyBundle,
  KemPreKeySchema,
  PreKeySchema,
  RegisterRequestSchema,
  Response,
  SignedPreKeySchema,
} from '../../gen/quintet/v1/transport_pb.js';
import type { RequestBody } from '../../wire/frame.js';
import { ClientError } from './errors.js';
import {
  RateLimitedRequests,
  SEND_WAIT_OUT,
  type RateLimitRetryOptions,
} from './rate-limit-retry.js';
import type { Transport } from './transport.js';

type ResponseBody = Response['body'];
type BodyOf<C extends NonNullable<ResponseBody['case']>> = Extract<
  ResponseBody,
  { case: C }
>['value'];

/** A signed prekey as uploaded. */
export type SignedPreKeyInit = MessageInitShape<typeof SignedPreKeySchema>;
/** A one-time prekey as uploaded. */
export type PreKeyInit = MessageInitShape<typeof PreKeySchema>;
/** A signed KEM prekey (one-time or last-resort) as uploaded. */
export type KemPreKeyInit = MessageInitShape<typeof KemPreKeySchema>;
/** A registration request without the request id. */
export type RegisterInit = MessageInitShape<typeof RegisterRequestSchema>;
/** A companion's `CompleteLinkRequest`. */
export type CompleteLinkInit = MessageInitShape<typeof CompleteLinkRequestSchema>;
/** One per-device envelope of a send. */
export type OutgoingEnvelopeInit = MessageInitShape<typeof OutgoingEnvelopeSchema>;

/** An account's devices together with its current signed key-index list. */
export interface DeviceListResponse {
  readonly devices: DeviceInfo[];
  /** `ADVSignedKeyIndexList` bytes; empty when the account has none yet. */
  readonly signedKeyIndexList: Uint8Array;
}

/** What `approveLink` sends (see `ApproveLinkRequest`). */
export interface ApproveLinkInit {
  readonly ref: string;
  readonly companionIdentityKey: Uint8Array;
  readonly payload: Uint8Array;
  readonly signedKeyIndexList: Uint8Array;
  readonly keyIndex: number;
}

/**
 * The server's requests, typed. Prekey-bundle fetches refused with
 * `rate-limited`, and sends refused with `rate-limited`, `storage-full` or
 * `unavailable`, are retried after the server's `retry_after_ms` (`rateLimits` sets the
 * clock, sleep and bounds; see rate-limit-retry.ts).
 */
export class ServerApi {
  readonly #bundleFetches: RateLimitedRequests;
  /**
   * The retry lane of every send, 1:1 and group (`GroupApi` uses it too):
   * the server counts both against one per-account bucket.
   */
  readonly sends: RateLimitedRequests;

  constructor(
    private readonly transport: Transport,
    rateLimits: RateLimitRetryOptions = {},
  ) {
    this.#bundleFetches = new RateLimitedRequests(rateLimits);
    this.sends = new RateLimitedRequests({
      ...rateLimits,
      waitOut: SEND_WAIT_OUT,
    });
  }

  async challenge(): Promise<Uint8Array> {
    return (await this.#call({ case: 'challenge', value: {} }, 'challenge')).nonce;
  }

  async register(request: RegisterInit): Promise<number> {
    return (await this.#call({ case: 'register', value: request }, 'register')).deviceId;
  }

  async authenticate(
    account: string,
    deviceId: number,
    nonce: Uint8Array,
    signature: Uint8Array,
  ): Promise<AuthenticateResponse> {
    return this.#call(
      { case: 'authenticate', value: { account, deviceId, nonce, signature } },
      'authenticate',
    );
  }

  async uploadPreKeys(preKeys: PreKeyInit[], signedPreKey?: SignedPreKeyInit): Promise<void> {
    await this.#call({ case: 'uploadPreKeys', value: { preKeys, signedPreKey } }, 'uploadPreKeys');
  }

  /** Adds one-time KEM prekeys and/or replaces the last-resort one (post-quantum devices). */
  async uploadKemPreKeys(
    kemPreKeys: readonly KemPreKeyInit[],
    lastResortKemPreKey?: KemPreKeyInit,
  ): Promise<void> {
    await this.#call(
      {
        case: 'uploadPreKeys',
        value: { kemPreKeys: [...kemPreKeys], lastResortKemPreKey },
      },
      'uploadPreKeys',
    );
  }

  async preKeyStatus(): Promise<{ remaining: number; threshold: number; kemRemaining: number }> {
    const body = await this.#call({ case: 'preKeyStatus', value: {} }, 'preKeyStatus');
    return {
      remaining: body.preKeysRemaining,
      threshold: body.preKeyThreshold,
      kemRemaining: body.kemPreKeysRemaining,
    };
  }

  /** Bundles for one device, or every device of the account when `deviceId` is 0. */
  async getPreKeyBundles(account: string, deviceId: number): Promise<PreKeyBundle[]> {
    const body = await this.#bundleFetches.run(() =>
      this.#call({ case: 'getPreKeyBundles', value: { account, deviceId } }, 'getPreKeyBundles'),
    );
    return body.bundles;
  }

  async getDevices(account: string): Promise<DeviceInfo[]> {
    return (await this.#call({ case: 'getDevices', value: { account } }, 'getDevices')).devices;
  }

  /** Devices of `account` plus its signed key-index list (multi-device). */
  async getDeviceList(account: string): Promise<DeviceListResponse> {
    const body = await this.#call({ case: 'getDevices', value: { account } }, 'getDevices');
    return { devices: body.devices, signedKeyIndexList: body.signedKeyIndexList };
  }

  /** Anonymous: asks for a fresh linking reference (companion side). */
  async openLink(): Promise<OpenLinkResponse> {
    return this.#call({ case: 'openLink', value: {} }, 'openLink');
  }

  /** Anonymous: completes an approved link; the connection becomes that device. */
  async completeLink(request: CompleteLinkInit): Promise<CompleteLinkResponse> {
    return this.#call({ case: 'completeLink', value: request }, 'completeLink');
  }

  /** Primary only: approves the companion waiting on `ref`; returns its new device id. */
  async approveLink(request: ApproveLinkInit): Promise<number> {
    const body = await this.#call({ case: 'approveLink', value: request }, 'approveLink');
    return body.deviceId;
  }

  /** Primary only: remote logout of `deviceId`, publishing the list without it. */
  async removeDevice(deviceId: number, signedKeyIndexList: Uint8Array): Promise<void> {
    await this.#call(
      { case: 'removeDevice', value: { deviceId, signedKeyIndexList } },
      'removeDevice',
    );
  }

  /** The authenticated device removes itself. */
  async logout(): Promise<void> {
    await this.#call({ case: 'logout', value: {} }, 'logout');
  }

  /** Primary only: publishes a newer signed key-index list. */
  async publishDeviceList(signedKeyIndexList: Uint8Array): Promise<void> {
    await this.#call(
      { case: 'publishDeviceList', value: { signedKeyIndexList } },
      'publishDeviceList',
    );
  }

  /**
   * `extras.refusedDevices`: current devices left out because they failed
   * ADV; `extras.senderDeviceIdentity`: a companion's own signed identity,
   * copied by the server onto prekey envelopes.
   *
   * A `rate-limited`, `storage-full` or `unavailable` refusal is waited out and the same
   * envelopes sent again (see `sends`); `queue-full` fails with
   * `ClientError('queue-full')` naming `destination`.
   */
  async sendMessage(
    destination: string,
    envelopes: OutgoingEnvelopeInit[],
    timestamp: number,
    extras: {
      refusedDevices?: number[];
      senderDeviceIdentity?: Uint8Array;
      /** Typing indicators: pushed to connected devices only, never stored. */
      ephemeral?: boolean;
    } = {},
  ): Promise<{ queuedOnly: boolean }> {
    // Built once: every retry carries exactly these bytes.
    const request: RequestBody = {
      case: 'sendMessage',
      value: {
        destination,
        envelopes,
        timestamp: BigInt(timestamp),
        refusedDevices: extras.refusedDevices ?? [],
        senderDeviceIdentity: extras.senderDeviceIdentity ?? new Uint8Array(0),
        ephemeral: extras.ephemeral === true,
      },
    };
    try {
      // An ephemeral send (typing) is not waited out and re-sent: late, it would be wrong.
      const body =
        extras.ephemeral === true
          ? await this.#call(request, 'sendMessage')
          : await this.sends.run(() => this.#call(request, 'sendMessage'));
      return { queuedOnly: body.queuedOnly };
    } catch (error) {
      throw ClientError.queueFull(error, destination);
    }
  }

  async ack(serverGuids: Uint8Array[]): Promise<void> {
    await this.#call({ case: 'ack', value: { serverGuids } }, 'ack');
  }

  /**
   * A bearer token for the blob HTTP API (`/v1/blobs`) for this device,
   * valid on every node until `expiresAt` (ms since the epoch; about an hour).
   */
  async getBlobCredential(): Promise<{ token: string; expiresAt: number }> {
    const body = await this.#call({ case: 'getBlobCredential', value: {} }, 'getBlobCredential');
    return { token: body.token, expiresAt: Number(body.expiresAt) };
  }

  async #call<C extends NonNullable<ResponseBody['case']>>(
    body: RequestBody,
    expected: C,
  ): Promise<BodyOf<C>> {
    const response = await this.transport.request(body);
    if (response.error !== undefined) {
      const error = response.error;
      throw new ClientError('server-error', `server refused ${expected}: ${error.code}`, {
        serverCode: error.code,
        serverMessage: error.message,
        details: {
          missingDevices: error.missingDevices,
          extraDevices: error.extraDevices,
          staleDevices: error.staleDevices,
          retryAfterMs: error.retryAfterMs,
          limit: error.limit,
        },
      });
    }
    if (response.body.case !== expected) {
      throw new ClientError('unexpected-response', `expected a ${expected} response`);
    }
    return response.body.value as BodyOf<C>;
  }
}
