/**
 * Multi-device client core against the real server (in-process): fanout to
 * every verified device of the recipient and of the own account, self-sync
 * (`DeviceSentMessage`), read sync, device-list change pushes, removal, and
 * the one-per-account safety number.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { RunningServer } from '../../src/server/main.js';
import { toHex } from '../../src/client/core/bytes.js';
import { protocolAddress } from '../../src/protocol/address.js';
import {
  linkDevice,
  registerDevice,
  SendRecorder,
  tryPairwiseDecrypt,
  testServer,
  unlinkDevice,
  type EventQueue,
  type TestDevice,
} from './helpers/clients.js';

/** Waits until `queue` saw a message with `text`, and returns it. */
async function messageWith(queue: EventQueue, text: string) {
  return (await queue.next('message', 5_000, (e) => e.message.text === text)).message;
}

describe('multi-device messaging (real server)', { timeout: 60_000 }, () => {
  let server: RunningServer;
  before(async () => {
    server = await testServer();
  });
  after(async () => {
    await server.close();
  });

  it('fans out to every device of both accounts, with sent copies on own devices', async () => {
    const alice = await registerDevice(server, 'f-alice');
    const alice2 = await linkDevice(server, alice, 'laptop');
    const alice3 = await linkDevice(server, alice, 'tablet');
    const bob = await registerDevice(server, 'f-bob');
    const bob2 = await linkDevice(server, bob, 'desktop');
    assert.deepEqual([alice2.deviceId, alice3.deviceId, bob2.deviceId], [2, 3, 2]);

    const a1 = await alice.online();
    const a2 = await alice2.online();
    const a3 = await alice3.online();
    const b1 = await bob.online();
    const b2 = await bob2.online();

    // From bob's companion: all of alice's devices, and bob's primary as sent.
    const sent = await b2.client.sendText('f-alice', 'hi from bob 2');
    assert.deepEqual([...sent.outcome.devices].sort(), [1, 2, 3]);
    assert.deepEqual(sent.outcome.refused, []);
    assert.deepEqual(sent.ownDevices?.devices, [1]);
    for (const queue of [a1.events, a2.events, a3.events]) {
      const got = await messageWith(queue, 'hi from bob 2');
      assert.equal(got.sender, 'f-bob');
      assert.equal(got.senderDevice, 2);
      assert.equal(got.outgoing, false);
      assert.equal(toHex(got.id), toHex(sent.message.id));
    }
    const copy = await messageWith(b1.events, 'hi from bob 2');
    assert.equal(copy.outgoing, true);
    assert.equal(copy.chat, 'f-alice', 'shown in the chat with alice');
    assert.equal(copy.sender, 'f-bob');
    assert.equal(copy.senderDevice, 2);
    assert.ok(await bob.store.messages.get('f-alice', sent.message.id));

    // A reply from alice's second companion reaches bob's devices and
    // alice's other devices.
    await a3.client.sendText('f-bob', 'reply from alice 3');
    for (const queue of [b1.events, b2.events]) {
      const got = await messageWith(queue, 'reply from alice 3');
      assert.equal(got.outgoing, false);
      assert.equal(got.senderDevice, 3);
    }
    for (const queue of [a1.events, a2.events]) {
      const got = await messageWith(queue, 'reply from alice 3');
      assert.equal(got.outgoing, true);
      assert.equal(got.chat, 'f-bob');
    }

    // Read sync: reading on alice's primary marks the chat read on the others.
    await a1.client.markRead('f-bob', [sent.message.id]);
    for (const [queue, store] of [
      [a2.events, alice2.store],
      [a3.events, alice3.store],
    ] as const) {
      const read = await queue.next('read');
      assert.equal(read.chat, 'f-bob');
      assert.equal(read.fromDevice, 1);
      assert.deepEqual(read.messageIds.map(toHex), [toHex(sent.message.id)]);
      assert.equal(typeof (await store.read.readAt('f-bob', sent.message.id)), 'number');
    }
    const readReceipt = await b2.events.next('receipt', 5_000, (e) => e.kind === 'read');
    assert.equal(readReceipt.from, 'f-alice');

    for (const c of [a1, a2, a3, b1, b2]) await c.client.close();
  });

  it('a removed companion gets nothing afterwards and is told it was logged out', async () => {
    const alice = await registerDevice(server, 'r-alice');
    const alice2 = await linkDevice(server, alice, 'laptop');
    const bob = await registerDevice(server, 'r-bob');
    const a2 = await alice2.online();
    const bobSent = new SendRecorder();
    const b1 = await bob.online({ wrap: bobSent.wrap });
    await b1.client.sendText('r-alice', 'before removal');
    await messageWith(a2.events, 'before removal');
    assert.ok(await bob.store.protocol.sessions.loadSession(protocolAddress('r-alice', 2)));

    await unlinkDevice(server, alice, 2);
    const notice = await a2.events.next('logged-out');
    assert.equal(notice.reason, 'removed');
    // Bob is told the list changed and drops the removed device's session.
    const changed = await b1.events.next('devices-changed');
    assert.deepEqual(changed.removed, [2]);
    assert.equal(
      await bob.store.protocol.sessions.loadSession(protocolAddress('r-alice', 2)),
      undefined,
    );
    const sentBefore = bobSent.envelopes.length;
    const after = await b1.client.sendText('r-alice', 'after removal');
    assert.deepEqual(after.outcome.devices, [1]);
    assert.equal(await server.store.queue.count('r-alice', 2), 0);
    // What bob handed the server after the removal: nothing for device 2,
    // and the removed device's own sessions cannot open any of it.
    const afterRemoval = bobSent.envelopes.slice(sentBefore);
    assert.ok(afterRemoval.length >= 1);
    assert.deepEqual(
      afterRemoval.filter((e) => e.destination === 'r-alice' && e.deviceId === 2),
      [],
    );
    for (const envelope of afterRemoval) {
      assert.notEqual(
        await tryPairwiseDecrypt(alice2.store, 'r-bob', 1, envelope.type, envelope.content),
        'decrypted',
      );
    }
    // The removed device cannot come back to collect anything either.
    await assert.rejects(alice2.online());
    assert.deepEqual(
      a2.events.all('message').map((e) => e.message.text),
      ['before removal'],
    );
    await b1.client.close();
    await a2.client.close();
  });

  it('keeps one safety number per account while companions come and go', async () => {
    // One connection per device: a device-management call from the primary
    // replaces its running connection, so each number is taken online anew.
    const numberOf = async (device: TestDevice, peer: string): Promise<string> => {
      const online = await device.online();
      try {
        return (await online.client.safetyNumber(peer)).displayable;
      } finally {
        assert.equal(online.events.all('account-key-changed').length, 0);
        await online.client.close();
      }
    };
    const alice = await registerDevice(server, 's-alice');
    const bob = await registerDevice(server, 's-bob');
    const before = await numberOf(alice, 's-bob');
    const bob2 = await linkDevice(server, bob, 'desktop');
    const alice2 = await linkDevice(server, alice, 'laptop');
    assert.equal(await numberOf(alice, 's-bob'), before);
    assert.equal(await numberOf(alice2, 's-bob'), before, 'the same on a companion');
    assert.equal(await numberOf(bob, 's-alice'), before, 'and on the other side');
    assert.equal(await numberOf(bob2, 's-alice'), before);
    await unlinkDevice(server, bob, bob2.deviceId);
    assert.equal(await numberOf(alice, 's-bob'), before, 'removal keeps the number');
  });
});
