/**
 * Typed calls on top of a `Transport`: one method per request, each checking
 * that the response carries the matching body and turning a server refusal
 * into `ClientError('server-error')` with the stable wire code and the
 * structured device lists the session manager needs.
 */
import type { MessageInitShape } from '@bufbuild/protobuf';
import type {
  AuthenticateResponse,
  DeviceInfo,
  OutgoingEnvelopeSchema,
  PreKeyBundle,
  PreKeySchema,
  RegisterRequestSchema,
  Response,
  SignedPreKeySchema,
} from '../../gen/quintet/v1/transport_pb.js';
import type { RequestBody } from '../../wire/frame.js';
import { ClientError } from './errors.js';
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
/** A registration request without the request id. */
export type RegisterInit = MessageInitShape<typeof RegisterRequestSchema>;
/** One per-device envelope of a send. */
export type OutgoingEnvelopeInit = MessageInitShape<typeof OutgoingEnvelopeSchema>;

/** The server's requests, typed. */
export class ServerApi {
  constructor(private readonly transport: Transport) {}

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

  async preKeyStatus(): Promise<{ remaining: number; threshold: number }> {
    const body = await this.#call({ case: 'preKeyStatus', value: {} }, 'preKeyStatus');
    return { remaining: body.preKeysRemaining, threshold: body.preKeyThreshold };
  }

  /** Bundles for one device, or every device of the account when `deviceId` is 0. */
  async getPreKeyBundles(account: string, deviceId: number): Promise<PreKeyBundle[]> {
    const body = await this.#call(
      { case: 'getPreKeyBundles', value: { account, deviceId } },
      'getPreKeyBundles',
    );
    return body.bundles;
  }

  async getDevices(account: string): Promise<DeviceInfo[]> {
    return (await this.#call({ case: 'getDevices', value: { account } }, 'getDevices')).devices;
  }

  async sendMessage(
    destination: string,
    envelopes: OutgoingEnvelopeInit[],
    timestamp: number,
  ): Promise<{ queuedOnly: boolean }> {
    const body = await this.#call(
      { case: 'sendMessage', value: { destination, envelopes, timestamp: BigInt(timestamp) } },
      'sendMessage',
    );
    return { queuedOnly: body.queuedOnly };
  }

  async ack(serverGuids: Uint8Array[]): Promise<void> {
    await this.#call({ case: 'ack', value: { serverGuids } }, 'ack');
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
        details: {
          missingDevices: error.missingDevices,
          extraDevices: error.extraDevices,
          staleDevices: error.staleDevices,
          retryAfterMs: error.retryAfterMs,
        },
      });
    }
    if (response.body.case !== expected) {
      throw new ClientError('unexpected-response', `expected a ${expected} response`);
    }
    return response.body.value as BodyOf<C>;
  }
}
