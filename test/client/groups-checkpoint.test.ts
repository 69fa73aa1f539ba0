/**
 * Checkpoints against the real server: after CHECKPOINT_INTERVAL changes
 * past the newest snapshot, the admin's client restates the membership, and
 * a member with no state then verifies from that checkpoint instead of the
 * whole history.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { fromBinary } from '@bufbuild/protobuf';
import { QuintetClient } from '../../src/client/core/client.js';
import type { ClientEvent } from '../../src/client/core/events.js';
import { CHECKPOINT_INTERVAL } from '../../src/client/core/groups/group-membership.js';
import { groupIdToBytes } from '../../src/client/core/groups/group-id.js';
import { WsTransport } from '../../src/client/transport/ws-transport.js';
import {
  GroupChangeSchema,
  GroupChange_Action,
  SignedGroupChangeSchema,
} from '../../src/gen/quintet/v1/groups_pb.js';
import type { RunningServer } from '../../src/server/main.js';
import { ctx, registerDevice, testServer, type TestDevice } from './helpers/clients.js';

describe('group checkpoints', { timeout: 300_000 }, () => {
  let server: RunningServer;
  before(async () => {
    server = await testServer();
  });
  after(async () => {
    await server.close();
  });

  it('an admin checkpoints after many removals; a new reader starts there', async () => {
    const leaving = Array.from({ length: CHECKPOINT_INTERVAL }, (_, i) => `cp-${i}`);
    for (const name of leaving) await registerDevice(server, name);
    const reader: TestDevice = await registerDevice(server, 'cp-reader');
    const alice = await registerDevice(server, 'cp-alice');
    const a = await alice.online();
    const group = await a.client.groups.create('shrinking', [...leaving, 'cp-reader']);
    for (const name of leaving) await a.client.groups.remove(group.groupId, name);
    // CHECKPOINT_INTERVAL removals since the creation: the next read checkpoints.
    const view = await a.client.groups.refresh(group.groupId);
    assert.equal(view.version, CHECKPOINT_INTERVAL + 1);
    const stored = await server.store.groups.getChanges(groupIdToBytes(group.groupId));
    const last = stored[stored.length - 1];
    assert.ok(last !== undefined);
    const change = fromBinary(GroupChangeSchema, fromBinary(SignedGroupChangeSchema, last).change);
    assert.equal(change.action, GroupChange_Action.CHECKPOINT);
    assert.equal(change.author, 'cp-alice');
    await a.client.close();

    // The reader has never fetched the group: it starts at the checkpoint.
    const transport = await WsTransport.connect(server.url);
    const client = new QuintetClient({ ctx, store: reader.store, transport, receive: false });
    const seen: ClientEvent[] = [];
    const pump = (async () => {
      for await (const event of client.events()) seen.push(event);
    })();
    await client.start();
    const got = await client.groups.refresh(group.groupId);
    assert.equal(got.version, CHECKPOINT_INTERVAL + 1);
    assert.deepEqual([...got.members.keys()].sort(), ['cp-alice', 'cp-reader']);
    await client.close();
    await pump;
    // No creation or removal was verified (each would be a group-changed event).
    assert.deepEqual(
      seen.filter((e) => e.type === 'group-changed' || e.type === 'group-change-refused'),
      [],
    );
  });
});
