/**
 * The receive pipeline's guarantees: a failure while committing leaves no
 * message, no processed mark and the old session (and the envelope unacked,
 * so it is delivered again and then succeeds); a corrupted session triggers a
 * retry request and the message still arrives; a retry is answered at most
 * five times per message.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MemoryBackend } from '../../src/client/core/store/memory-backend.js';
import type { KeyValueWrite } from '../../src/client/core/store/kv.js';
import { PROTOCOL_TABLES } from '../../src/client/core/store/protocol-stores.js';
import { TABLES } from '../../src/client/core/store/client-stores.js';
import { MAX_RETRIES } from '../../src/client/core/retry.js';
import { serializeContent } from '../../src/client/core/content.js';
import { EnvelopeType } from '../../src/gen/quintet/v1/transport_pb.js';
import { deviceId } from '../../src/protocol/address.js';
import type { RunningServer } from '../../src/server/main.js';
import { authenticateDevice } from '../../src/client/core/account-setup.js';
import { ServerApi } from '../../src/client/core/server-api.js';
import { WsTransport } from '../../src/client/transport/ws-transport.js';
import { ctx, registerDevice, testServer } from './helpers/clients.js';

/** A memory backend whose commits can be made to fail on demand. */
class FaultyBackend extends MemoryBackend {
  failWhen: ((writes: readonly KeyValueWrite[]) => boolean) | undefined;
  override async commit(writes: readonly KeyValueWrite[]): Promise<void> {
    if (this.failWhen?.(writes) === true) {
      this.failWhen = undefined;
      throw new Error('injected commit failure');
    }
    return super.commit(writes);
  }
}

describe('receive pipeline', () => {
  let server: RunningServer;
  before(async () => {
    server = await testServer();
  });
  after(async () => {
    await server.close();
  });

  it('leaves no message, no mark and the old session when the commit fails', async () => {
    const backend = new FaultyBackend();
    const alice = await registerDevice(server, 'r0-alice');
    const bob = await registerDevice(server, 'r0-bob', backend);
    const a = await alice.online();
    let b = await bob.online();
    await a.client.sendText('r0-bob', 'first');
    await b.events.next('message');
    await b.client.idle();

    const sessionBefore = await backend.get(PROTOCOL_TABLES.sessions, 'r0-alice/0000000001');
    assert.ok(sessionBefore);
    const marksBefore = (await backend.list(TABLES.processed, '')).length;
    backend.failWhen = (writes) => writes.some((w) => w.table === TABLES.processed);

    await a.client.sendText('r0-bob', 'second');
    const failure = await b.events.next('error');
    assert.match(failure.message, /delivered again/);
    await b.client.idle();
    assert.deepEqual(
      (await bob.store.messages.list('r0-alice')).map((m) => m.text),
      ['first'],
    );
    assert.equal((await backend.list(TABLES.processed, '')).length, marksBefore);
    assert.deepEqual(
      await backend.get(PROTOCOL_TABLES.sessions, 'r0-alice/0000000001'),
      sessionBefore,
    );
    assert.equal(await server.store.queue.count('r0-bob', 1), 1, 'the envelope was not acked');

    // Reconnecting redelivers it, and now it goes through.
    await b.client.close();
    b = await bob.online();
    assert.equal((await b.events.next('message')).message.text, 'second');
    await b.client.idle();
    assert.equal(await server.store.queue.count('r0-bob', 1), 0);
    await a.client.close();
    await b.client.close();
  });

  it('recovers from a corrupted session through a retry request', async () => {
    const backend = new MemoryBackend();
    const alice = await registerDevice(server, 'r1-alice');
    const bob = await registerDevice(server, 'r1-bob', backend);
    const a = await alice.online();
    const b = await bob.online();
    await a.client.sendText('r1-bob', 'before');
    await b.events.next('message');
    await b.client.sendText('r1-alice', 'reply');
    await a.events.next('message');
    // Alice's delivery receipt must be processed first: its commit would
    // otherwise write the good session back over the damage.
    await b.events.next('receipt');
    await b.client.idle();

    // Damage bob's stored session with alice.
    await backend.commit([
      {
        table: PROTOCOL_TABLES.sessions,
        key: 'r1-alice/0000000001',
        value: new Uint8Array([1, 2, 3, 4]),
      },
    ]);
    await a.client.sendText('r1-bob', 'after the damage');
    const failure = await b.events.next('decryption-failure');
    assert.equal(failure.from, 'r1-alice');
    assert.equal(failure.retryRequested, true);
    const retry = await a.events.next('retry-request');
    assert.equal(retry.outcome, 'resent');
    const arrived = await b.events.next('message');
    assert.equal(arrived.message.text, 'after the damage');
    await a.client.idle();
    await b.client.idle();

    // The rebuilt session works both ways.
    await b.client.sendText('r1-alice', 'still here');
    assert.equal((await a.events.next('message')).message.text, 'still here');
    await a.client.sendText('r1-bob', 'good');
    assert.equal((await b.events.next('message')).message.text, 'good');
    await a.client.close();
    await b.client.close();
  });

  it('recovers when the receiver lost its session entirely', async () => {
    const backend = new MemoryBackend();
    const alice = await registerDevice(server, 'r2-alice');
    const bob = await registerDevice(server, 'r2-bob', backend);
    const a = await alice.online();
    const b = await bob.online();
    await a.client.sendText('r2-bob', 'one');
    await b.events.next('message');
    await b.client.sendText('r2-alice', 'ack');
    await a.events.next('message');
    await b.events.next('receipt');
    await b.client.idle();
    await bob.store.protocol.sessions.deleteSession({ name: 'r2-alice', deviceId: deviceId(1) });
    await a.client.sendText('r2-bob', 'two');
    assert.equal((await b.events.next('decryption-failure')).code, 'no-session');
    assert.equal((await b.events.next('message')).message.text, 'two');
    await a.client.close();
    await b.client.close();
  });

  it(`answers at most ${MAX_RETRIES} retry requests per message and device`, async () => {
    const alice = await registerDevice(server, 'r3-alice');
    const bob = await registerDevice(server, 'r3-bob');
    const a = await alice.online();
    const sent = await a.client.sendText('r3-bob', 'x');
    const timestamp = sent.message.sentAt;
    const stored = await alice.store.sent.get('r3-bob', timestamp);
    assert.ok(stored);
    await alice.store.sent.put({ ...stored, retries: { 1: MAX_RETRIES } });
    assert.equal(await server.store.queue.count('r3-bob', 1), 1);
    // Bob asks once more: a plaintext retry request, as a failing bob sends,
    // over his own authenticated connection.
    const notice = serializeContent({
      body: {
        case: 'decryptionErrorMessage',
        value: { timestamp: BigInt(timestamp), deviceId: 1, requesterDeviceId: 1 },
      },
    });
    const bobConnection = await WsTransport.connect(server.url);
    const bobApi = new ServerApi(bobConnection);
    await authenticateDevice(ctx, bob.store, bobApi);
    const aliceDevice = await server.store.accounts.getDevice('r3-alice', 1);
    assert.ok(aliceDevice);
    await bobApi.sendMessage(
      'r3-alice',
      [
        {
          deviceId: 1,
          registrationId: aliceDevice.registrationId,
          type: EnvelopeType.PLAINTEXT,
          content: notice,
        },
      ],
      Date.now(),
    );
    const outcome = await a.events.next('retry-request');
    assert.equal(outcome.outcome, 'exhausted');
    await a.client.idle();
    assert.equal(await server.store.queue.count('r3-bob', 1), 1, 'nothing was re-sent');
    await bobConnection.close();
    await a.client.close();
  });
});
