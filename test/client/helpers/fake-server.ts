/**
 * An in-memory stand-in for the Quintet server, for client unit tests that
 * must not depend on the real server: per-device queues that forget an
 * envelope on ack, bundles that hand out each one-time prekey once, and the
 * device-set check on every send (missing/extra → mismatched-devices, wrong
 * registration id → stale-devices). It does not verify signatures; the e2e
 * tests run the real server for that.
 */
import { create } from '@bufbuild/protobuf';
import {
  EnvelopeSchema,
  PushSchema,
  ResponseSchema,
  type Envelope,
  type PreKey,
  type Push,
  type Request,
  type Response,
  type SignedPreKey,
} from '../../../src/gen/quintet/v1/transport_pb.js';
import type { RequestBody } from '../../../src/wire/frame.js';
import type { Transport } from '../../../src/client/core/transport.js';

interface Device {
  registrationId: number;
  identityKey: Uint8Array;
  signedPreKey: SignedPreKey | undefined;
  preKeys: PreKey[];
}

/** Knobs for fault injection. */
export interface FakeServerOptions {
  /** Push every envelope twice (a lost ack followed by redelivery). */
  duplicateDeliveries?: boolean;
}

let guidCounter = 0;

/** The shared server state; `connect()` opens one client connection. */
export class FakeServer {
  readonly accounts = new Map<string, Map<number, Device>>();
  readonly queues = new Map<string, Envelope[]>();
  readonly #connections = new Map<string, FakeConnection>();
  readonly sendLog: Array<{ from: string; destination: string; types: number[] }> = [];

  constructor(readonly options: FakeServerOptions = {}) {}

  connect(): FakeConnection {
    return new FakeConnection(this);
  }

  /** Envelopes waiting for `account.device`. */
  queued(account: string, device: number): Envelope[] {
    return this.queues.get(`${account}.${device}`) ?? [];
  }

  attach(key: string, connection: FakeConnection): void {
    this.#connections.get(key)?.closeNow();
    this.#connections.set(key, connection);
  }

  detach(key: string, connection: FakeConnection): void {
    if (this.#connections.get(key) === connection) this.#connections.delete(key);
  }

  enqueue(key: string, envelope: Envelope): boolean {
    const queue = this.queues.get(key) ?? [];
    queue.push(envelope);
    this.queues.set(key, queue);
    const connection = this.#connections.get(key);
    if (connection === undefined) return false;
    connection.deliver(envelope);
    return true;
  }
}

type Result =
  | Response['body']
  | { error: { code: string; missing?: number[]; extra?: number[]; stale?: number[] } };

/** One authenticated (or not yet) connection, as a client `Transport`. */
export class FakeConnection implements Transport {
  #account: string | undefined;
  #device = 0;
  #closed = false;
  readonly #pushes: Push[] = [];
  #wake: (() => void) | undefined;

  constructor(private readonly server: FakeServer) {}

  async request(body: RequestBody): Promise<Response> {
    if (this.#closed) throw new Error('fake connection closed');
    // A macrotask boundary, like a real network round trip.
    await new Promise((resolve) => setImmediate(resolve));
    const result = this.#handle(body as Request['body']);
    if ('error' in result) {
      return create(ResponseSchema, {
        error: {
          code: result.error.code,
          message: result.error.code,
          missingDevices: result.error.missing ?? [],
          extraDevices: result.error.extra ?? [],
          staleDevices: result.error.stale ?? [],
        },
      });
    }
    return create(ResponseSchema, { body: result });
  }

  get pushes(): AsyncIterable<Push> {
    const next = async (): Promise<IteratorResult<Push>> => {
      for (;;) {
        const push = this.#pushes.shift();
        if (push !== undefined) return { value: push, done: false };
        if (this.#closed) return { value: undefined, done: true };
        await new Promise<void>((resolve) => {
          this.#wake = resolve;
        });
        this.#wake = undefined;
      }
    };
    return { [Symbol.asyncIterator]: () => ({ next }) };
  }

  async close(): Promise<void> {
    this.closeNow();
  }

  closeNow(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#account !== undefined) this.server.detach(this.#key(), this);
    this.#wake?.();
  }

  deliver(envelope: Envelope): void {
    this.#push(create(PushSchema, { kind: { case: 'envelope', value: envelope } }));
    if (this.server.options.duplicateDeliveries === true) {
      this.#push(create(PushSchema, { kind: { case: 'envelope', value: envelope } }));
    }
  }

  #push(push: Push): void {
    this.#pushes.push(push);
    this.#wake?.();
  }

  #key(): string {
    return `${this.#account ?? ''}.${this.#device}`;
  }

  #handle(body: Request['body']): Result {
    const server = this.server;
    switch (body.case) {
      case 'challenge':
        return {
          case: 'challenge',
          value: { nonce: new Uint8Array(32).fill(7) },
        } as Response['body'];
      case 'register': {
        const r = body.value;
        if (server.accounts.has(r.account)) return { error: { code: 'account-taken' } };
        server.accounts.set(
          r.account,
          new Map([
            [
              1,
              {
                registrationId: r.registrationId,
                identityKey: r.identityKey,
                signedPreKey: r.signedPreKey,
                preKeys: [...r.preKeys],
              },
            ],
          ]),
        );
        this.#login(r.account, 1);
        return { case: 'register', value: { deviceId: 1 } } as Response['body'];
      }
      case 'authenticate': {
        const devices = server.accounts.get(body.value.account);
        const device = devices?.get(body.value.deviceId);
        if (device === undefined) return { error: { code: 'unknown-account' } };
        this.#login(body.value.account, body.value.deviceId);
        const queued = [...server.queued(body.value.account, body.value.deviceId)];
        // Queue backlog follows the response, then the drained marker.
        setImmediate(() => {
          for (const envelope of queued) this.deliver(envelope);
          this.#push(create(PushSchema, { kind: { case: 'queueDrained', value: {} } }));
        });
        return {
          case: 'authenticate',
          value: { preKeysRemaining: device.preKeys.length, preKeyThreshold: 10 },
        } as Response['body'];
      }
      case 'uploadPreKeys': {
        const device = this.#self();
        if (device === undefined) return { error: { code: 'unauthenticated' } };
        device.preKeys.push(...body.value.preKeys);
        if (body.value.signedPreKey !== undefined) device.signedPreKey = body.value.signedPreKey;
        return { case: 'uploadPreKeys', value: {} } as Response['body'];
      }
      case 'preKeyStatus': {
        const device = this.#self();
        if (device === undefined) return { error: { code: 'unauthenticated' } };
        return {
          case: 'preKeyStatus',
          value: { preKeysRemaining: device.preKeys.length, preKeyThreshold: 10 },
        } as Response['body'];
      }
      case 'getDevices': {
        const devices = server.accounts.get(body.value.account);
        if (devices === undefined) return { error: { code: 'unknown-account' } };
        return {
          case: 'getDevices',
          value: {
            devices: [...devices].map(([deviceId, d]) => ({
              deviceId,
              registrationId: d.registrationId,
              identityKey: d.identityKey,
            })),
          },
        } as Response['body'];
      }
      case 'getPreKeyBundles': {
        const devices = server.accounts.get(body.value.account);
        if (devices === undefined) return { error: { code: 'unknown-account' } };
        const bundles = [...devices]
          .filter(([id]) => body.value.deviceId === 0 || id === body.value.deviceId)
          .map(([deviceId, d]) => ({
            deviceId,
            registrationId: d.registrationId,
            identityKey: d.identityKey,
            signedPreKey: d.signedPreKey,
            preKey: d.preKeys.shift(),
          }));
        return { case: 'getPreKeyBundles', value: { bundles } } as Response['body'];
      }
      case 'sendMessage': {
        if (this.#account === undefined) return { error: { code: 'unauthenticated' } };
        const r = body.value;
        const devices = server.accounts.get(r.destination);
        if (devices === undefined) return { error: { code: 'unknown-account' } };
        const expected = [...devices.keys()].filter(
          (id) => !(r.destination === this.#account && id === this.#device),
        );
        const given = r.envelopes.map((e) => e.deviceId);
        const missing = expected.filter((id) => !given.includes(id));
        const extra = given.filter((id) => !expected.includes(id));
        if (missing.length > 0 || extra.length > 0) {
          return { error: { code: 'mismatched-devices', missing, extra } };
        }
        const stale = r.envelopes
          .filter((e) => devices.get(e.deviceId)?.registrationId !== e.registrationId)
          .map((e) => e.deviceId);
        if (stale.length > 0) return { error: { code: 'stale-devices', stale } };
        server.sendLog.push({
          from: this.#account,
          destination: r.destination,
          types: r.envelopes.map((e) => e.type),
        });
        let online = false;
        for (const e of r.envelopes) {
          const guid = new Uint8Array(16);
          new DataView(guid.buffer).setUint32(12, ++guidCounter);
          online =
            server.enqueue(
              `${r.destination}.${e.deviceId}`,
              create(EnvelopeSchema, {
                serverGuid: guid,
                source: this.#account,
                sourceDevice: this.#device,
                destinationDevice: e.deviceId,
                type: e.type,
                content: e.content,
                timestamp: r.timestamp,
                serverTimestamp: BigInt(Date.now()),
              }),
            ) || online;
        }
        return { case: 'sendMessage', value: { queuedOnly: !online } } as Response['body'];
      }
      case 'ack': {
        const key = this.#key();
        const queue = server.queues.get(key) ?? [];
        const acked = body.value.serverGuids.map((g) => g.join(','));
        server.queues.set(
          key,
          queue.filter((e) => !acked.includes(e.serverGuid.join(','))),
        );
        return { case: 'ack', value: {} } as Response['body'];
      }
      case undefined:
        return { error: { code: 'malformed-request' } };
      default:
        return { error: { code: 'unknown-request' } };
    }
  }

  #login(account: string, device: number): void {
    this.#account = account;
    this.#device = device;
    this.server.attach(this.#key(), this);
  }

  #self(): Device | undefined {
    if (this.#account === undefined) return undefined;
    return this.server.accounts.get(this.#account)?.get(this.#device);
  }
}
