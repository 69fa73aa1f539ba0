/**
 * The client core's I/O discipline (issue 13):
 * - a prekey-bundle fetch runs with no session queue held, so a slow or
 *   stalled server answer does not hold up work for that peer device;
 * - acks go out in batches (one frame per turn, not one per envelope), and
 *   only for envelopes whose message and processed mark are committed;
 * - delivery receipts go out once per sender per turn.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Transport } from '../../src/client/core/transport.js';
import type { RequestBody } from '../../src/wire/frame.js';
import { MAX_ACK_BATCH } from '../../src/client/core/receive-turn.js';
import type { RunningServer } from '../../src/server/main.js';
import { registerDevice, testServer } from './helpers/clients.js';

/** Holds every bundle fetch for `account` until `release()`. */
class BundleGate {
  held = 0;
  #open: Promise<void>;
  release: () => void = () => undefined;
  constructor(private readonly account: string) {
    this.#open = new Promise((resolve) => {
      this.release = resolve;
    });
  }
  readonly wrap = (transport: Transport): Transport => ({
    request: async (body: RequestBody) => {
      if (body?.case === 'getPreKeyBundles' && body.value.account === this.account) {
        this.held++;
        await this.#open;
      }
      return transport.request(body);
    },
    get pushes() {
      return transport.pushes;
    },
    close: () => transport.close(),
  });
}

describe('client core I/O', () => {
  let server: RunningServer;
  before(async () => {
    server = await testServer();
  });
  after(async () => {
    await server.close();
  });

  it('a stalled bundle fetch for a device does not hold up receiving from it', async () => {
    const alice = await registerDevice(server, 'io-alice');
    const bob = await registerDevice(server, 'io-bob');
    const gate = new BundleGate('io-bob');
    const a = await alice.online({ wrap: gate.wrap });
    const b = await bob.online();
    // Alice's first send to bob needs his bundle: the fetch stalls.
    const sending = a.client.sendText('io-bob', 'from alice');
    while (gate.held === 0) await new Promise((resolve) => setImmediate(resolve));
    // Meanwhile bob writes first. Decrypting his prekey message needs the
    // queue of io-bob.1 — the device whose bundle fetch is stalled. A fetch
    // made inside that queue would keep this message waiting until the
    // gate opens, and this wait would time out.
    await b.client.sendText('io-alice', 'from bob');
    const got = await a.events.next('message', 5_000);
    assert.equal(got.message.text, 'from bob');
    assert.equal(gate.held, 1, 'the fetch is still stalled');
    gate.release();
    const sent = await sending;
    assert.deepEqual(sent.outcome.devices, [1]);
    // The session bob's message started is the one used (the bundle was
    // not needed any more), so bob reads alice's message.
    const reply = await b.events.next('message', 5_000);
    assert.equal(reply.message.text, 'from alice');
    await a.client.close();
    await b.client.close();
  });

  it('acks a backlog in batches, each only after its messages are stored', async () => {
    const alice = await registerDevice(server, 'ack-alice');
    const bob = await registerDevice(server, 'ack-bob');
    const a = await alice.online();
    const count = MAX_ACK_BATCH + 20;
    for (let i = 0; i < count; i++) await a.client.sendText('ack-bob', `m${i}`);
    await a.client.idle();
    const ackFrames: number[] = [];
    const receipts: number[] = [];
    let acked = 0;
    const violations: string[] = [];
    const b = await bob.online({
      wrap: (transport) => ({
        request: async (body: RequestBody) => {
          if (body?.case === 'ack') {
            const guids: readonly Uint8Array[] = body.value.serverGuids ?? [];
            ackFrames.push(guids.length);
            acked += guids.length;
            // Every acked envelope is a stored message by now.
            const stored = (await bob.store.messages.list('ack-alice')).length;
            if (stored < acked) violations.push(`${acked} acked with ${stored} stored`);
          } else if (body?.case === 'sendMessage' && body.value.destination === 'ack-alice') {
            receipts.push(body.value.envelopes?.length ?? 0);
          }
          return transport.request(body);
        },
        get pushes() {
          return transport.pushes;
        },
        close: () => transport.close(),
      }),
    });
    await b.events.next('queue-drained', 60_000);
    await b.client.idle();
    assert.equal(b.events.all('message').length, count);
    assert.equal(acked, count, 'every envelope acked once');
    assert.deepEqual(violations, []);
    assert.ok(
      ackFrames.every((n) => n <= MAX_ACK_BATCH),
      `batches ${ackFrames.join(',')}`,
    );
    // One frame per envelope would be `count` frames.
    assert.ok(ackFrames.length <= count / 10, `${ackFrames.length} ack frames for ${count}`);
    assert.ok(receipts.length <= count / 10, `${receipts.length} receipt sends for ${count}`);
    assert.equal(await server.store.queue.count('ack-bob', 1), 0, 'the server forgot them all');
    await a.client.close();
    await b.client.close();
  });
});
