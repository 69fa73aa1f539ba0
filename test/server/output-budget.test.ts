/**
 * The output budget must not lose anything: live envelopes for a device
 * whose output is over budget are not kept in memory but left in its queue,
 * and reach it once it reads again (redeliveries allowed, gaps not).
 * Memory bounds themselves: test/server/slow-readers.test.ts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { registeredDevice, sendTo } from './helpers/device.js';
import { startTestServer, type TestServer } from './helpers/server.js';

const MESSAGES = 400;
const CONTENT_BYTES = 16 * 1024;

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

describe('output budget', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({
      limits: { maxConnectionOutputBytes: 64 * 1024, outputStuckMs: 120_000 },
    });
  });
  after(() => t.close());

  it('delivers every envelope to a device that fell behind, once it reads again', async () => {
    const alice = await registeredDevice(t.wsUrl, 'alice');
    const bob = await registeredDevice(t.wsUrl, 'bob');
    bob.client.socket.pause();
    const to = [{ deviceId: 1, registrationId: bob.identity.registrationId }];
    // ~6 MiB: more than the kernel's socket buffers and the budget together.
    for (let i = 0; i < MESSAGES; i += 20) {
      await Promise.all(
        Array.from({ length: 20 }, async (_, j) => {
          const content = new Uint8Array(CONTENT_BYTES);
          new DataView(content.buffer).setUint32(0, i + j);
          const response = await sendTo(alice.client, 'bob', to, content);
          assert.equal(response.error, undefined, response.error?.message);
        }),
      );
    }
    assert.ok(t.server.metrics.outputPauses >= 1, 'the connection never went over budget');
    bob.client.socket.resume();
    const seen = new Set<number>();
    const guids = new Map<string, Uint8Array>();
    while (seen.size < MESSAGES) {
      const push = await bob.client.nextPush(10_000);
      if (push.kind.case !== 'envelope') continue;
      const envelope = push.kind.value;
      seen.add(new DataView(envelope.content.buffer, envelope.content.byteOffset).getUint32(0));
      guids.set(hex(envelope.serverGuid), envelope.serverGuid);
    }
    assert.equal(seen.size, MESSAGES);
    assert.equal(guids.size, MESSAGES);
    const ack = await bob.client.request({
      case: 'ack',
      value: { serverGuids: [...guids.values()] },
    });
    assert.equal(ack.error, undefined);
    assert.equal(await t.store.queue.count('bob', 1), 0);
    assert.equal(t.server.metrics.outputStuckCloses, 0);
    alice.client.close();
    bob.client.close();
  });
});
