/**
 * Client core end to end over the in-memory fake server: fanout, offline
 * delivery, receipts, redelivery idempotency and prekey top-up.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FakeServer } from './helpers/fake-server.js';
import { registerDevice } from './helpers/clients.js';
import { toHex } from '../../src/client/core/bytes.js';

describe('client messaging', () => {
  it('delivers messages both ways and reports delivery receipts', async () => {
    const server = new FakeServer();
    const alice = await registerDevice(server, 'alice');
    const bob = await registerDevice(server, 'bob');
    const a = await alice.online();
    const b = await bob.online();

    const sent = await a.client.sendText('bob', 'hello bob');
    const got = await b.events.next('message');
    assert.equal(got.message.text, 'hello bob');
    assert.equal(got.message.sender, 'alice');
    assert.equal(got.message.senderDevice, 1);
    assert.equal(toHex(got.message.id), toHex(sent.message.id));

    const receipt = await a.events.next('receipt');
    assert.equal(receipt.kind, 'delivery');
    assert.equal(receipt.from, 'bob');
    assert.equal(toHex(receipt.messageIds[0] ?? new Uint8Array()), toHex(sent.message.id));
    await a.client.idle();
    const stored = await alice.store.messages.get('bob', sent.message.id);
    assert.deepEqual(stored?.receipts, { 'bob.1': 'delivered' });

    await b.client.sendText('alice', 'hi alice');
    assert.equal((await a.events.next('message')).message.text, 'hi alice');

    await b.client.markRead('alice', [got.message.id]);
    const read = await a.events.next('receipt');
    assert.equal(read.kind, 'read');
    await a.client.idle();
    assert.deepEqual((await alice.store.messages.get('bob', sent.message.id))?.receipts, {
      'bob.1': 'read',
    });
    await a.client.close();
    await b.client.close();
    // Everything was acked: the server holds nothing.
    assert.equal(server.queued('alice', 1).length, 0);
    assert.equal(server.queued('bob', 1).length, 0);
  });

  it('delivers to a recipient that was offline at send time, then drains', async () => {
    const server = new FakeServer();
    const alice = await registerDevice(server, 'alice');
    const bob = await registerDevice(server, 'bob');
    const a = await alice.online();
    const first = await a.client.sendText('bob', 'one');
    assert.equal(first.outcome.queuedOnly, true);
    await a.client.sendText('bob', 'two');
    assert.equal(server.queued('bob', 1).length, 2);

    const b = await bob.online();
    assert.equal((await b.events.next('message')).message.text, 'one');
    assert.equal((await b.events.next('message')).message.text, 'two');
    await b.events.next('queue-drained');
    assert.equal(server.queued('bob', 1).length, 0);
    await a.client.close();
    await b.client.close();
  });

  it('shows an envelope delivered twice (lost ack) once', async () => {
    const server = new FakeServer({ duplicateDeliveries: true });
    const alice = await registerDevice(server, 'alice');
    const bob = await registerDevice(server, 'bob');
    const a = await alice.online();
    const b = await bob.online();
    await a.client.sendText('bob', 'only once');
    await a.client.sendText('bob', 'and this once');
    await b.events.next('message');
    await b.events.next('message');
    await b.client.idle();
    const messages = b.events.seen.filter((e) => e.type === 'message');
    assert.equal(messages.length, 2);
    assert.equal((await bob.store.messages.list('alice')).length, 2);
    assert.equal(
      b.events.seen.filter((e) => e.type === 'decryption-failure').length,
      0,
      'a redelivered envelope is not a decryption failure',
    );
    await a.client.close();
    await b.client.close();
  });

  it('tops up one-time prekeys when the server runs low', async () => {
    const server = new FakeServer();
    const bob = await registerDevice(server, 'bob');
    const device = server.accounts.get('bob')?.get(1);
    assert.ok(device);
    device.preKeys.splice(0, 95);
    const b = await bob.online();
    const uploaded = await b.events.next('pre-keys-uploaded');
    assert.equal(uploaded.count, 95);
    assert.equal(device.preKeys.length, 100);
    const ids = new Set(device.preKeys.map((k) => k.id));
    assert.equal(ids.size, 100, 'no prekey id is reused');
    await b.client.close();
  });
});
