/**
 * Group-aware retry (retry.ts, groups/group-client.ts `resend`), against the
 * real server in-process: a member whose copy of the sender key
 * distribution was lost cannot decrypt the group message, asks the sender
 * (the request names the group), and gets the distribution and the message
 * again over the pairwise session — it reads the message exactly once, and
 * reads the group's next message with the key it got back.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { serializeContent } from '../../src/client/core/content.js';
import { groupIdToBytes } from '../../src/client/core/groups/group-id.js';
import { EnvelopeType } from '../../src/gen/quintet/v1/transport_pb.js';
import type { RunningServer } from '../../src/server/main.js';
import { registerDevice, testServer, withApi } from './helpers/clients.js';

describe('group-aware retry (real server)', { timeout: 60_000 }, () => {
  let server: RunningServer;
  before(async () => {
    server = await testServer();
  });
  after(async () => {
    await server.close();
  });

  it('re-sends the sender key and the message to a member that lost the key', async () => {
    const alice = await registerDevice(server, 'gr-alice');
    const bob = await registerDevice(server, 'gr-bob');
    const carol = await registerDevice(server, 'gr-carol');
    const a = await alice.online();
    const group = await a.client.groups.create('lossy', ['gr-bob', 'gr-carol']);
    const gid = group.groupId;
    const first = await a.client.groups.send(gid, 'first');
    assert.equal(first.distributed, 2);

    // The distribution to bob is lost in transit (deleted from his queue):
    // only the SENDER_KEY ciphertext is left for him.
    const page = await server.store.queue.page('gr-bob', 1, 0, 100);
    const pairwise = page.envelopes.filter((e) => e.type !== Number(EnvelopeType.SENDER_KEY));
    assert.equal(pairwise.length, 1, 'one distribution was queued for bob');
    await server.store.queue.ack(
      'gr-bob',
      1,
      pairwise.map((e) => e.guid),
    );
    assert.equal(await server.store.queue.count('gr-bob', 1), 1);

    const b = await bob.online();
    const failure = await b.events.next('decryption-failure', 10_000);
    assert.equal(failure.from, 'gr-alice');
    assert.equal(failure.retryRequested, true, 'a group failure asks for a retry');
    const retry = await a.events.next('retry-request', 10_000);
    assert.equal(retry.outcome, 'resent');
    const got = await b.events.next('message', 10_000);
    assert.equal(got.message.text, 'first');
    assert.equal(got.message.chat, gid, 'stored in the group chat');
    assert.equal(got.message.sender, 'gr-alice');

    // The key came back too: the next group message decrypts as usual.
    await a.client.groups.send(gid, 'second');
    assert.equal((await b.events.next('message', 10_000)).message.text, 'second');
    await a.client.idle();
    await b.client.idle();
    assert.deepEqual(
      b.events.all('message').map((e) => e.message.text),
      ['first', 'second'],
      'each message read exactly once',
    );
    assert.deepEqual(
      (await bob.store.messages.list(gid)).map((m) => m.text),
      ['first', 'second'],
    );
    assert.equal(b.events.all('decryption-failure').length, 1);

    // carol, who got everything, is unaffected.
    const c = await carol.online();
    await c.events.next('message', 10_000, (e) => e.message.text === 'second');
    assert.deepEqual(
      (await carol.store.messages.list(gid)).map((m) => m.text),
      ['first', 'second'],
    );
    for (const client of [a.client, b.client, c.client]) await client.close();
  });

  it('re-sends nothing to an account that is not a member', async () => {
    const alice = await registerDevice(server, 'gn-alice');
    const bob = await registerDevice(server, 'gn-bob');
    const mallory = await registerDevice(server, 'gn-mallory');
    const a = await alice.online();
    const group = await a.client.groups.create('closed', ['gn-bob']);
    const sent = await a.client.groups.send(group.groupId, 'secret');
    void bob;
    // mallory names the group and the message's timestamp in a retry request.
    const registrationId = (await alice.store.account.getRequired()).registrationId;
    await withApi(server, mallory.store, (api) =>
      api.sendMessage(
        'gn-alice',
        [
          {
            deviceId: 1,
            registrationId,
            type: EnvelopeType.PLAINTEXT,
            content: serializeContent({
              body: {
                case: 'decryptionErrorMessage',
                value: {
                  timestamp: BigInt(sent.message.sentAt),
                  deviceId: 1,
                  requesterDeviceId: 1,
                  groupId: groupIdToBytes(group.groupId),
                },
              },
            }),
          },
        ],
        Date.now(),
      ),
    );
    assert.equal((await a.events.next('retry-request', 10_000)).outcome, 'unknown');
    await a.client.idle();
    assert.equal(await server.store.queue.count('gn-mallory', 1), 0, 'nothing went to mallory');
    await a.client.close();
  });
});
