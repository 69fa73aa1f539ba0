/**
 * Client core end to end against the real server (in-process, real
 * WebSocket): delivery both ways, offline delivery, receipts, read sync
 * state, redelivery idempotency and prekey top-up.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { RunningServer } from '../../src/server/main.js';
import { registerDevice, testServer } from './helpers/clients.js';
import { toHex } from '../../src/client/core/bytes.js';

describe('client messaging', () => {
  let server: RunningServer;
  before(async () => {
    server = await testServer();
  });
  after(async () => {
    await server.close();
  });

  it('delivers messages both ways and reports delivery and read receipts', async () => {
    const alice = await registerDevice(server, 'm-alice');
    const bob = await registerDevice(server, 'm-bob');
    const a = await alice.online();
    const b = await bob.online();

    const sent = await a.client.sendText('m-bob', 'hello bob');
    assert.deepEqual(sent.outcome.devices, [1]);
    assert.deepEqual(sent.outcome.refused, []);
    assert.deepEqual(sent.ownDevices?.devices, [], 'no other own device: no copy');
    const got = await b.events.next('message');
    assert.equal(got.message.text, 'hello bob');
    assert.equal(got.message.sender, 'm-alice');
    assert.equal(got.message.senderDevice, 1);
    assert.equal(toHex(got.message.id), toHex(sent.message.id));

    const receipt = await a.events.next('receipt');
    assert.equal(receipt.kind, 'delivery');
    assert.equal(receipt.from, 'm-bob');
    assert.equal(toHex(receipt.messageIds[0] ?? new Uint8Array()), toHex(sent.message.id));
    await a.client.idle();
    const stored = await alice.store.messages.get('m-bob', sent.message.id);
    assert.deepEqual(stored?.receipts, { 'm-bob.1': 'delivered' });

    await b.client.sendText('m-alice', 'hi alice');
    assert.equal((await a.events.next('message')).message.text, 'hi alice');

    await b.client.markRead('m-alice', [got.message.id]);
    assert.equal(typeof (await bob.store.read.readAt('m-alice', got.message.id)), 'number');
    const read = await a.events.next('receipt', 5_000, (e) => e.kind === 'read');
    assert.equal(read.kind, 'read');
    await a.client.idle();
    assert.deepEqual((await alice.store.messages.get('m-bob', sent.message.id))?.receipts, {
      'm-bob.1': 'read',
    });
    await a.client.close();
    await b.client.close();
    // Everything was acked: the server holds nothing.
    assert.equal(await server.store.queue.count('m-alice', 1), 0);
    assert.equal(await server.store.queue.count('m-bob', 1), 0);
  });

  it('delivers to a recipient that was offline at send time, then drains', async () => {
    const alice = await registerDevice(server, 'o-alice');
    const bob = await registerDevice(server, 'o-bob');
    const a = await alice.online();
    const first = await a.client.sendText('o-bob', 'one');
    assert.equal(first.outcome.queuedOnly, true);
    await a.client.sendText('o-bob', 'two');
    assert.equal(await server.store.queue.count('o-bob', 1), 2);

    const b = await bob.online();
    assert.equal((await b.events.next('message')).message.text, 'one');
    assert.equal((await b.events.next('message')).message.text, 'two');
    await b.events.next('queue-drained');
    assert.equal(await server.store.queue.count('o-bob', 1), 0);
    await a.client.close();
    await b.client.close();
  });

  it('shows an envelope the server queues again (lost ack, new guid) once', async () => {
    const alice = await registerDevice(server, 'd-alice');
    const bob = await registerDevice(server, 'd-bob');
    const a = await alice.online();
    await a.client.sendText('d-bob', 'only once');
    await a.client.sendText('d-bob', 'and this once');
    const queued = await server.store.queue.page('d-bob', 1, 0, 10);
    assert.equal(queued.envelopes.length, 2);
    const b = await bob.online();
    await b.events.next('message');
    await b.events.next('message');
    await b.client.idle();
    await b.client.close();
    // The server re-queues the first under a fresh guid, as after a lost ack.
    const [first] = queued.envelopes;
    assert.ok(first);
    const { guid: _guid, ...copy } = first;
    await server.store.queue.enqueue([copy]);
    const again = await bob.online();
    await again.events.next('queue-drained');
    await again.client.idle();
    assert.equal(again.events.all('message').length, 0, 'the copy is not shown again');
    assert.equal(again.events.all('decryption-failure').length, 0, 'nor is it a failure');
    assert.equal((await bob.store.messages.list('d-alice')).length, 2);
    assert.equal(await server.store.queue.count('d-bob', 1), 0, 'the copy was acked');
    await a.client.close();
    await again.client.close();
  });

  it('tops up one-time prekeys when the server runs low', async () => {
    const bob = await registerDevice(server, 'p-bob');
    for (let i = 0; i < 95; i++) await server.store.preKeys.takeOneTimePreKey('p-bob', 1);
    assert.equal(await server.store.preKeys.countOneTimePreKeys('p-bob', 1), 5);
    const b = await bob.online();
    const uploaded = await b.events.next('pre-keys-uploaded');
    assert.equal(uploaded.count, 95);
    // 100 distinct ids: a reused id would have replaced one of the 5 left.
    assert.equal(await server.store.preKeys.countOneTimePreKeys('p-bob', 1), 100);
    await b.client.close();
  });
});
