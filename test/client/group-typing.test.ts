/**
 * Group typing indicators the receiver must drop (client/core/groups/
 * group-receive.ts), each made by rewriting alice's outgoing group send on
 * the wire: one the server was told to queue (not ephemeral) — a stale
 * indicator delivered later — and one posted into another group of the
 * same members than the one its encrypted content names. Neither becomes a
 * `typing` event, and the receiver goes on: a message sent afterwards
 * arrives with no indicator before it. An untouched indicator is reported.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { create } from '@bufbuild/protobuf';
import type { RunningServer } from '../../src/server/main.js';
import type { Transport } from '../../src/client/core/transport.js';
import { SendGroupMessageRequestSchema } from '../../src/gen/quintet/v1/transport_pb.js';
import { groupIdToBytes, type GroupId } from '../../src/client/core/groups/group-id.js';
import { registerDevice, testServer, type EventQueue } from './helpers/clients.js';

/** How alice's next ephemeral group send is rewritten. */
type Rewrite =
  | { readonly kind: 'none' }
  | { readonly kind: 'queued' }
  | { readonly kind: 'group'; readonly to: GroupId };

/** Typing events `queue` saw so far. */
function typingSeen(queue: EventQueue): number {
  return queue.seen.filter((event) => event.type === 'typing').length;
}

describe('group typing indicators the receiver drops', { timeout: 60_000 }, () => {
  let server: RunningServer;
  before(async () => {
    server = await testServer();
  });
  after(async () => {
    await server.close();
  });

  it('drops a queued one and one posted into another group; reports an untouched one', async () => {
    let rewrite: Rewrite = { kind: 'none' };
    const wrap = (inner: Transport): Transport => ({
      pushes: inner.pushes,
      close: () => inner.close(),
      get closeCode() {
        return inner.closeCode;
      },
      request: (body) => {
        if (body?.case !== 'sendGroupMessage') return inner.request(body);
        const value = create(SendGroupMessageRequestSchema, body.value);
        if (value.ephemeral && rewrite.kind === 'queued') value.ephemeral = false;
        if (value.ephemeral && rewrite.kind === 'group') value.groupId = groupIdToBytes(rewrite.to);
        return inner.request({ case: 'sendGroupMessage', value });
      },
    });
    const alice = await registerDevice(server, 'gtr-alice');
    const bob = await registerDevice(server, 'gtr-bob');
    const a1 = await alice.online({ wrap });
    const b1 = await bob.online();
    const first = await a1.client.groups.create('first', ['gtr-bob']);
    const second = await a1.client.groups.create('second', ['gtr-bob']);
    // Alice's sender keys reach bob with her first message in each group.
    for (const group of [first, second]) {
      await a1.client.groups.send(group.groupId, `hello ${group.name}`);
      await b1.events.next('message', 5_000, (e) => e.message.text === `hello ${group.name}`);
    }

    // Untouched: reported, naming the group.
    assert.equal(await a1.client.typing.send(first.groupId, 'started'), true);
    const shown = await b1.events.next('typing');
    assert.equal(shown.chat, first.groupId);
    assert.equal(shown.from, 'gtr-alice');

    const dropped = async (label: string): Promise<void> => {
      const before = typingSeen(b1.events);
      assert.equal(await a1.client.typing.send(first.groupId, 'started'), true);
      rewrite = { kind: 'none' };
      await a1.client.groups.send(first.groupId, `after ${label}`);
      await b1.events.next('message', 5_000, (e) => e.message.text === `after ${label}`);
      assert.equal(typingSeen(b1.events), before, `the ${label} indicator was reported`);
    };
    rewrite = { kind: 'queued' };
    await dropped('queued');
    rewrite = { kind: 'group', to: second.groupId };
    await dropped('other-group');

    await a1.client.close();
    await b1.client.close();
  });
});
