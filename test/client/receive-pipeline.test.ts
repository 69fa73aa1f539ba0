/**
 * The receive pipeline's guarantees: a failure while committing leaves no
 * message, no processed mark and the old session (and the envelope unacked,
 * so it is delivered again and then succeeds); a corrupted session triggers a
 * retry request and the message still arrives; a retry is answered at most
 * five times per message.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryBackend } from '../../src/client/core/store/memory-backend.js';
import type { KeyValueWrite } from '../../src/client/core/store/kv.js';
import { PROTOCOL_TABLES } from '../../src/client/core/store/protocol-stores.js';
import { TABLES } from '../../src/client/core/store/client-stores.js';
import { MAX_RETRIES } from '../../src/client/core/retry.js';
import { serializeContent } from '../../src/client/core/content.js';
import { EnvelopeType } from '../../src/gen/quintet/v1/transport_pb.js';
import { deviceId } from '../../src/protocol/address.js';
import { FakeServer } from './helpers/fake-server.js';
import { registerDevice } from './helpers/clients.js';

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

const ALICE_SESSION = 'alice/0000000001';

describe('receive pipeline', () => {
  it('leaves no message, no mark and the old session when the commit fails', async () => {
    const server = new FakeServer();
    const backend = new FaultyBackend();
    const alice = await registerDevice(server, 'alice');
    const bob = await registerDevice(server, 'bob', backend);
    const a = await alice.online();
    let b = await bob.online();
    await a.client.sendText('bob', 'first');
    await b.events.next('message');
    await b.client.idle();

    const sessionBefore = await backend.get(PROTOCOL_TABLES.sessions, ALICE_SESSION);
    assert.ok(sessionBefore);
    const marksBefore = (await backend.list(TABLES.processed, '')).length;
    backend.failWhen = (writes) => writes.some((w) => w.table === TABLES.processed);

    await a.client.sendText('bob', 'second');
    const failure = await b.events.next('error');
    assert.match(failure.message, /delivered again/);
    await b.client.idle();
    assert.deepEqual(
      (await bob.store.messages.list('alice')).map((m) => m.text),
      ['first'],
    );
    assert.equal((await backend.list(TABLES.processed, '')).length, marksBefore);
    assert.deepEqual(await backend.get(PROTOCOL_TABLES.sessions, ALICE_SESSION), sessionBefore);
    assert.equal(server.queued('bob', 1).length, 1, 'the envelope was not acked');

    // Reconnecting redelivers it, and now it goes through.
    await b.client.close();
    b = await bob.online();
    assert.equal((await b.events.next('message')).message.text, 'second');
    await b.client.idle();
    assert.equal(server.queued('bob', 1).length, 0);
    await a.client.close();
    await b.client.close();
  });

  it('recovers from a corrupted session through a retry request', async () => {
    const server = new FakeServer();
    const backend = new MemoryBackend();
    const alice = await registerDevice(server, 'alice');
    const bob = await registerDevice(server, 'bob', backend);
    const a = await alice.online();
    const b = await bob.online();
    await a.client.sendText('bob', 'before');
    await b.events.next('message');
    await b.client.sendText('alice', 'reply');
    await a.events.next('message');
    // Alice's delivery receipt must be processed first: its commit would
    // otherwise write the good session back over the damage.
    await b.events.next('receipt');
    await b.client.idle();

    // Damage bob's stored session with alice.
    await backend.commit([
      { table: PROTOCOL_TABLES.sessions, key: ALICE_SESSION, value: new Uint8Array([1, 2, 3, 4]) },
    ]);
    await a.client.sendText('bob', 'after the damage');
    const failure = await b.events.next('decryption-failure');
    assert.equal(failure.from, 'alice');
    assert.equal(failure.retryRequested, true);
    const retry = await a.events.next('retry-request');
    assert.equal(retry.outcome, 'resent');
    const arrived = await b.events.next('message');
    assert.equal(arrived.message.text, 'after the damage');
    await a.client.idle();
    await b.client.idle();

    // The rebuilt session works both ways.
    await b.client.sendText('alice', 'still here');
    assert.equal((await a.events.next('message')).message.text, 'still here');
    await a.client.sendText('bob', 'good');
    assert.equal((await b.events.next('message')).message.text, 'good');
    await a.client.close();
    await b.client.close();
  });

  it('recovers when the receiver lost its session entirely', async () => {
    const server = new FakeServer();
    const backend = new MemoryBackend();
    const alice = await registerDevice(server, 'alice');
    const bob = await registerDevice(server, 'bob', backend);
    const a = await alice.online();
    const b = await bob.online();
    await a.client.sendText('bob', 'one');
    await b.events.next('message');
    await b.client.sendText('alice', 'ack');
    await a.events.next('message');
    await b.events.next('receipt');
    await b.client.idle();
    await bob.store.protocol.sessions.deleteSession({ name: 'alice', deviceId: deviceId(1) });
    await a.client.sendText('bob', 'two');
    assert.equal((await b.events.next('decryption-failure')).code, 'no-session');
    assert.equal((await b.events.next('message')).message.text, 'two');
    await a.client.close();
    await b.client.close();
  });

  it(`answers at most ${MAX_RETRIES} retry requests per message and device`, async () => {
    const server = new FakeServer();
    const alice = await registerDevice(server, 'alice');
    await registerDevice(server, 'bob');
    const a = await alice.online();
    const sent = await a.client.sendText('bob', 'x');
    const timestamp = sent.message.sentAt;
    const stored = await alice.store.sent.get('bob', timestamp);
    assert.ok(stored);
    await alice.store.sent.put({ ...stored, retries: { 1: MAX_RETRIES } });
    // Bob asks once more: a plaintext retry request, as a failing bob sends.
    const before = server.sendLog.length;
    const notice = serializeContent({
      body: {
        case: 'decryptionErrorMessage',
        value: { timestamp: BigInt(timestamp), deviceId: 1, requesterDeviceId: 1 },
      },
    });
    const bobConnection = server.connect();
    await bobConnection.request({
      case: 'authenticate',
      value: {
        account: 'bob',
        deviceId: 1,
        nonce: new Uint8Array(32),
        signature: new Uint8Array(64),
      },
    });
    const response = await bobConnection.request({
      case: 'sendMessage',
      value: {
        destination: 'alice',
        envelopes: [
          {
            deviceId: 1,
            registrationId: server.accounts.get('alice')?.get(1)?.registrationId ?? 0,
            type: EnvelopeType.PLAINTEXT,
            content: notice,
          },
        ],
        timestamp: BigInt(Date.now()),
      },
    });
    assert.equal(response.error, undefined);
    const outcome = await a.events.next('retry-request');
    assert.equal(outcome.outcome, 'exhausted');
    assert.equal(server.sendLog.length, before + 1, 'nothing was re-sent');
    await bobConnection.close();
    await a.client.close();
  });
});
