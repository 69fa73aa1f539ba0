/**
 * A child process of `bench/group.ts` holding many authenticated device
 * connections. It makes the devices' identity keys (the orchestrator writes
 * them into the server's database), connects and authenticates them, acks
 * every envelope, and records when each device received the group
 * ciphertext of the current round (absolute ms, `performance.timeOrigin`
 * based, so times compare across processes on one machine).
 */
import { WebSocket } from 'ws';
import { nodeCrypto } from '../src/crypto/node.js';
import { generateSigningKeyPair, sign, type KeyPair } from '../src/protocol/curve.js';
import { EnvelopeType } from '../src/gen/quintet/v1/transport_pb.js';
import { authenticationPayload } from '../src/wire/auth.js';
import { decodeFrame, encodeFrame, requestFrame, type RequestBody } from '../src/wire/frame.js';

/** Orchestrator → child. */
export type DeviceCommand =
  | { readonly cmd: 'keys'; readonly devices: ReadonlyArray<{ account: string; deviceId: number }> }
  | { readonly cmd: 'connect'; readonly url: string }
  | { readonly cmd: 'expect'; readonly distributions: boolean }
  | { readonly cmd: 'close' };

/** Child → orchestrator. */
export type DeviceReport =
  | {
      readonly type: 'keys';
      readonly devices: ReadonlyArray<{
        account: string;
        deviceId: number;
        identityKey: number[];
        registrationId: number;
      }>;
    }
  | { readonly type: 'connected' }
  | { readonly type: 'armed' }
  | {
      readonly type: 'received';
      /** Absolute receipt time of the ciphertext, per device. */
      readonly times: number[];
      /** Devices that got the ciphertext before their distribution. */
      readonly outOfOrder: number;
    };

const now = (): number => performance.timeOrigin + performance.now();
const random = (n: number): Uint8Array => nodeCrypto.randomBytes(n);

interface Device {
  readonly account: string;
  readonly deviceId: number;
  readonly keys: KeyPair;
  socket?: WebSocket;
  gotDistribution: boolean;
  received: number | undefined;
}

const devices: Device[] = [];
let expectDistribution = false;
let outOfOrder = 0;
let pending = 0;
const report = (message: DeviceReport): void => {
  process.send?.(message);
};

function finishOne(): void {
  pending -= 1;
  if (pending === 0) {
    report({
      type: 'received',
      times: devices.map((d) => d.received ?? Number.NaN),
      outOfOrder,
    });
  }
}

async function connect(device: Device, url: string): Promise<void> {
  const socket = new WebSocket(url, { perMessageDeflate: false });
  socket.binaryType = 'nodebuffer';
  device.socket = socket;
  let nextId = 1n;
  const waiting = new Map<bigint, (ok: unknown) => void>();
  let drained: () => void = () => undefined;
  const drainedPromise = new Promise<void>((resolve) => (drained = resolve));
  const request = (body: RequestBody): Promise<unknown> => {
    const id = nextId++;
    socket.send(encodeFrame(requestFrame(id, body)));
    return new Promise((resolve) => waiting.set(id, resolve));
  };
  socket.on('message', (data: Buffer) => {
    const frame = decodeFrame(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    if (frame.kind.case === 'response') {
      const response = frame.kind.value;
      if (response.error !== undefined) throw new Error(`request failed: ${response.error.code}`);
      waiting.get(response.id)?.(response.body.value);
      waiting.delete(response.id);
      return;
    }
    if (frame.kind.case !== 'push') return;
    const push = frame.kind.value.kind;
    if (push.case === 'queueDrained') drained();
    if (push.case !== 'envelope') return;
    const envelope = push.value;
    socket.send(
      encodeFrame(
        requestFrame(nextId++, { case: 'ack', value: { serverGuids: [envelope.serverGuid] } }),
      ),
    );
    if (envelope.type === EnvelopeType.SENDER_KEY) {
      if (device.received !== undefined) return;
      device.received = now();
      if (expectDistribution && !device.gotDistribution) outOfOrder += 1;
      finishOne();
    } else {
      device.gotDistribution = true;
    }
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('open', resolve);
    socket.once('error', reject);
  });
  const challenge = (await request({ case: 'challenge', value: {} })) as { nonce: Uint8Array };
  const signature = await sign(
    nodeCrypto,
    device.keys.privateKey,
    authenticationPayload(challenge.nonce, device.account, device.deviceId),
    random,
  );
  await request({
    case: 'authenticate',
    value: {
      account: device.account,
      deviceId: device.deviceId,
      nonce: challenge.nonce,
      signature,
    },
  });
  await drainedPromise;
}

process.on('message', (command: DeviceCommand) => {
  (async () => {
    if (command.cmd === 'keys') {
      for (const d of command.devices) {
        devices.push({
          ...d,
          keys: await generateSigningKeyPair(nodeCrypto, random),
          gotDistribution: false,
          received: undefined,
        });
      }
      report({
        type: 'keys',
        devices: devices.map((d) => ({
          account: d.account,
          deviceId: d.deviceId,
          identityKey: [...d.keys.publicKey.serialize()],
          registrationId: 1 + ((d.deviceId * 7919 + d.account.length * 31) % 16000),
        })),
      });
    } else if (command.cmd === 'connect') {
      // Bounded concurrency: thousands of simultaneous handshakes only queue up.
      let next = 0;
      const worker = async (): Promise<void> => {
        while (next < devices.length) {
          const device = devices[next++];
          if (device !== undefined) await connect(device, command.url);
        }
      };
      await Promise.all(Array.from({ length: 64 }, worker));
      report({ type: 'connected' });
    } else if (command.cmd === 'expect') {
      expectDistribution = command.distributions;
      outOfOrder = 0;
      pending = devices.length;
      for (const d of devices) {
        d.received = undefined;
        d.gotDistribution = false;
      }
      report({ type: 'armed' });
    } else {
      for (const d of devices) d.socket?.terminate();
      process.exit(0);
    }
  })().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
});
