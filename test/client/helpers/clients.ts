/**
 * Test fixtures: the REAL server in-process (`startServer`, in-memory store,
 * port 0) and registered devices with in-memory stores connecting to it over
 * a real WebSocket, plus a helper to wait for typed events.
 */
import { nodeCrypto } from '../../../src/crypto/node.js';
import { systemClock } from '../../../src/crypto/provider.js';
import type { ProtocolContext } from '../../../src/protocol/context.js';
import { protocolAddress } from '../../../src/protocol/address.js';
import { ProtocolError } from '../../../src/protocol/errors.js';
import { groupDecrypt } from '../../../src/protocol/group-cipher.js';
import { authenticateDevice, registerAccount } from '../../../src/client/core/account-setup.js';
import { removeCompanion } from '../../../src/client/core/device-admin.js';
import { approveCompanion } from '../../../src/client/core/linking/approve.js';
import { linkCompanion, storeLinkedDevice } from '../../../src/client/core/linking/companion.js';
import { decodeLinkCode } from '../../../src/protocol/adv/index.js';
import { QuintetClient } from '../../../src/client/core/client.js';
import type { ClientEvent } from '../../../src/client/core/events.js';
import { ServerApi } from '../../../src/client/core/server-api.js';
import {
  createDeviceStore,
  type DeviceStore,
} from '../../../src/client/core/store/device-store.js';
import type { KeyValueBackend } from '../../../src/client/core/store/kv.js';
import { MemoryBackend } from '../../../src/client/core/store/memory-backend.js';
import { WsTransport } from '../../../src/client/transport/ws-transport.js';
import type { Transport } from '../../../src/client/core/transport.js';
import type { RequestBody } from '../../../src/wire/frame.js';
import { EnvelopeType } from '../../../src/gen/quintet/v1/transport_pb.js';
import { decryptEnvelope } from '../../../src/client/core/session-ops.js';
import { startServer, type RunningServer } from '../../../src/server/main.js';

/** The real crypto with the system clock. */
export const ctx: ProtocolContext = {
  crypto: nodeCrypto,
  random: (n) => nodeCrypto.randomBytes(n),
  clock: systemClock,
};

/** Starts the real server in-process on a free port with an in-memory store. */
export async function testServer(
  options: { allowReregistration?: boolean } = {},
): Promise<RunningServer> {
  // Tests register many accounts from 127.0.0.1: no per-address registration limit.
  return startServer({
    port: 0,
    memory: true,
    logLevel: 'silent',
    ...options,
    limits: { registrationBurst: 1_000_000 },
  });
}

/** A registered device: its store and backend, and a way to go online. */
export interface TestDevice {
  readonly name: string;
  readonly backend: KeyValueBackend;
  readonly store: DeviceStore;
  /**
   * Connects a new client; its event subscription starts before `start()`.
   * `wrap` lets a test watch or alter what goes over the connection.
   */
  online(options?: {
    wrap?: (transport: Transport) => Transport;
    /** The client's `postQuantum` option (default: left unset, i.e. on). */
    postQuantum?: boolean;
  }): Promise<{ client: QuintetClient; events: EventQueue }>;
}

/** A device around an existing store (registered or linked). */
export function deviceOn(
  server: RunningServer,
  name: string,
  store: DeviceStore,
  backend: KeyValueBackend,
): TestDevice {
  return {
    name,
    backend,
    store,
    async online(options = {}) {
      const socket = await WsTransport.connect(server.url);
      const transport = options.wrap === undefined ? socket : options.wrap(socket);
      const client = new QuintetClient({
        ctx,
        store,
        transport,
        ...(options.postQuantum === undefined ? {} : { postQuantum: options.postQuantum }),
      });
      const events = new EventQueue(client.events());
      await client.start();
      return { client, events };
    },
  };
}

/** Registers `name` as a new account (this device its primary) with a fresh in-memory store. */
export async function registerDevice(
  server: RunningServer,
  name: string,
  backend: KeyValueBackend = new MemoryBackend(),
  /** `postQuantum: false`: register without KEM prekeys (a v3-only account). */
  options: { postQuantum?: boolean } = {},
): Promise<TestDevice> {
  const store = createDeviceStore(backend);
  const connection = await WsTransport.connect(server.url);
  try {
    await registerAccount(ctx, store, new ServerApi(connection), {
      account: name,
      serverUrl: server.url,
      ...(options.postQuantum === undefined ? {} : { postQuantum: options.postQuantum }),
    });
  } finally {
    await connection.close();
  }
  return deviceOn(server, name, store, backend);
}

/** Pulls events one at a time with a timeout, so a missing event fails the test instead of hanging. */
export class EventQueue {
  readonly #iterator: AsyncIterator<ClientEvent>;
  readonly seen: ClientEvent[] = [];

  constructor(events: AsyncIterable<ClientEvent>) {
    this.#iterator = events[Symbol.asyncIterator]();
  }

  /** The next event matching `type` (and `where`), skipping others (which are kept in `seen`). */
  async next<T extends ClientEvent['type']>(
    type: T,
    timeoutMs = 5_000,
    where: (event: Extract<ClientEvent, { type: T }>) => boolean = () => true,
  ): Promise<Extract<ClientEvent, { type: T }>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw new Error(`timed out waiting for a ${type} event`);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const result = await Promise.race([
        this.#iterator.next(),
        new Promise<'timeout'>((resolve) => {
          timer = setTimeout(() => resolve('timeout'), remaining);
        }),
      ]);
      clearTimeout(timer);
      if (result === 'timeout') {
        throw new Error(
          `timed out waiting for a ${type} event (saw: ${this.seen.map((e) => e.type).join(', ')})`,
        );
      }
      if (result.done === true) throw new Error(`event stream ended before a ${type} event`);
      this.seen.push(result.value);
      if (result.value.type === type) {
        const event = result.value as Extract<ClientEvent, { type: T }>;
        if (where(event)) return event;
      }
    }
  }

  /** Events of `type` seen so far. */
  all<T extends ClientEvent['type']>(type: T): Array<Extract<ClientEvent, { type: T }>> {
    return this.seen.filter((e): e is Extract<ClientEvent, { type: T }> => e.type === type);
  }
}

/** Runs `fn` with an authenticated API for the device in `store`. */
export async function withApi<T>(
  server: RunningServer,
  store: DeviceStore,
  fn: (api: ServerApi) => Promise<T>,
): Promise<T> {
  const transport = await WsTransport.connect(server.url);
  try {
    const api = new ServerApi(transport);
    await authenticateDevice(ctx, store, api);
    return await fn(api);
  } finally {
    await transport.close();
  }
}

/**
 * Links a new companion to `primary`'s account through the real linking
 * flow (link code, approval signed by the account key, CompleteLink).
 */
export async function linkDevice(
  server: RunningServer,
  primary: TestDevice,
  deviceName = 'companion',
  /** `postQuantum: false`: link without KEM prekeys (a v3-only companion). */
  options: { postQuantum?: boolean } = {},
): Promise<TestDevice & { readonly deviceId: number }> {
  const transport = await WsTransport.connect(server.url);
  try {
    let approval: Promise<unknown> = Promise.resolve();
    const linked = await linkCompanion(ctx, transport, {
      serverUrl: server.url,
      deviceName,
      platform: 'cli',
      timeoutMs: 10_000,
      ...(options.postQuantum === undefined ? {} : { postQuantum: options.postQuantum }),
      onCode: (offer) => {
        approval = withApi(server, primary.store, (api) =>
          approveCompanion(ctx, primary.store, api, decodeLinkCode(offer.text)),
        );
      },
    });
    await approval;
    const backend = new MemoryBackend();
    const store = createDeviceStore(backend);
    await storeLinkedDevice(store, linked);
    return { ...deviceOn(server, primary.name, store, backend), deviceId: linked.account.deviceId };
  } finally {
    await transport.close();
  }
}

/** The primary removes companion `deviceId` (remote logout with a new signed list). */
export async function unlinkDevice(
  server: RunningServer,
  primary: TestDevice,
  deviceId: number,
): Promise<void> {
  await withApi(server, primary.store, (api) => removeCompanion(ctx, primary.store, api, deviceId));
}

/**
 * A transport that records the ciphertexts of every send passing through it
 * (Sender Keys group ciphertexts and pairwise envelopes), so a test can try
 * to decrypt exactly what the server was given to deliver, with a removed
 * member's or device's own keys.
 */
export class SendRecorder {
  /** Every non-empty group ciphertext sent, oldest first. */
  readonly ciphertexts: Uint8Array[] = [];
  /** Every pairwise envelope sent, oldest first. */
  readonly envelopes: Array<{
    readonly destination: string;
    readonly deviceId: number;
    readonly type: EnvelopeType;
    readonly content: Uint8Array;
  }> = [];

  /** Wraps `transport` (pass as `online({ wrap })`). */
  readonly wrap = (transport: Transport): Transport => ({
    request: (body: RequestBody) => {
      if (body?.case === 'sendGroupMessage') {
        const ciphertext = body.value.ciphertext;
        if (ciphertext !== undefined && ciphertext.length > 0) this.ciphertexts.push(ciphertext);
      } else if (body?.case === 'sendMessage') {
        for (const envelope of body.value.envelopes ?? []) {
          this.envelopes.push({
            destination: body.value.destination ?? '',
            deviceId: envelope.deviceId ?? 0,
            type: envelope.type ?? EnvelopeType.UNSPECIFIED,
            content: envelope.content ?? new Uint8Array(0),
          });
        }
      }
      return transport.request(body);
    },
    get pushes() {
      return transport.pushes;
    },
    close: () => transport.close(),
  });

  /** The newest recorded group ciphertext; throws when none was sent. */
  last(): Uint8Array {
    const last = this.ciphertexts[this.ciphertexts.length - 1];
    if (last === undefined) throw new Error('no group ciphertext was sent');
    return last;
  }
}

/** Pairwise decryption with `store`'s sessions: `decrypted`, or the ProtocolError code. */
export async function tryPairwiseDecrypt(
  store: DeviceStore,
  from: string,
  fromDevice: number,
  type: EnvelopeType,
  content: Uint8Array,
): Promise<string> {
  try {
    await decryptEnvelope(ctx, store.protocol, protocolAddress(from, fromDevice), type, content);
    return 'decrypted';
  } catch (error) {
    if (ProtocolError.is(error)) return error.code;
    throw error;
  }
}

/** groupDecrypt with `store`'s sender keys: `decrypted`, or the ProtocolError code. */
export async function tryGroupDecrypt(
  store: DeviceStore,
  from: string,
  fromDevice: number,
  ciphertext: Uint8Array,
): Promise<string> {
  try {
    await groupDecrypt(ctx, store.senderKeys, protocolAddress(from, fromDevice), ciphertext);
    return 'decrypted';
  } catch (error) {
    if (ProtocolError.is(error)) return error.code;
    throw error;
  }
}
