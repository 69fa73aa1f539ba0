/**
 * Groups in the client core against the real server (in-process): signed
 * membership, Sender Keys fanout with per-device distribution tracking,
 * rotation on remove / leave / device removal, receipts, and a member the
 * server alone adds being refused.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { RunningServer } from '../../src/server/main.js';
import { protocolAddress } from '../../src/protocol/address.js';
import { groupIdToBytes, type GroupId } from '../../src/client/core/groups/group-id.js';
import { signGroupChange } from '../../src/client/core/groups/group-change.js';
import { generateKeyPair } from '../../src/protocol/curve.js';
import {
  ctx,
  linkDevice,
  registerDevice,
  testServer,
  unlinkDevice,
  SendRecorder,
  tryGroupDecrypt,
  type EventQueue,
} from './helpers/clients.js';
import { SenderKeyMessage } from '../../src/protocol/sender-key-messages.js';

async function got(queue: EventQueue, text: string): Promise<void> {
  await queue.next('message', 8_000, (e) => e.message.text === text);
}

describe('groups (real server, client core)', { timeout: 120_000 }, () => {
  let server: RunningServer;
  before(async () => {
    server = await testServer();
  });
  after(async () => {
    await server.close();
  });

  it('creates, sends once per device, rotates on removal, and counts receipts', async () => {
    const alice = await registerDevice(server, 'g-alice');
    const alice2 = await linkDevice(server, alice, 'laptop');
    const bob = await registerDevice(server, 'g-bob');
    const carol = await registerDevice(server, 'g-carol');
    const aliceSent = new SendRecorder();
    const bobSent = new SendRecorder();
    const a1 = await alice.online({ wrap: aliceSent.wrap });
    const a2 = await alice2.online();
    const b1 = await bob.online({ wrap: bobSent.wrap });
    const c1 = await carol.online();

    const group = await a1.client.groups.create('friends', ['g-bob', 'g-carol']);
    const gid: GroupId = group.groupId;
    assert.deepEqual([...group.members.keys()].sort(), ['g-alice', 'g-bob', 'g-carol']);

    const first = await a1.client.groups.send(gid, 'hello group');
    assert.equal(first.recipients, 3, 'alice 2, bob 1, carol 1');
    assert.equal(first.distributed, 3);
    for (const q of [a2.events, b1.events, c1.events]) await got(q, 'hello group');
    const copy = await a2.client
      .idle()
      .then(() => alice2.store.messages.get(gid, first.message.id));
    assert.equal(copy?.outgoing, true, "alice's own other device shows it as sent");
    assert.equal(copy?.chat, gid);

    // Second message: everyone already holds the key.
    const second = await a1.client.groups.send(gid, 'second');
    assert.equal(second.distributed, 0);
    assert.equal(second.rotated, false);
    for (const q of [a2.events, b1.events, c1.events]) await got(q, 'second');

    // Delivery receipts from each device; read by bob.
    await b1.client.markRead(gid, [second.message.id]);
    const deadline = Date.now() + 8_000;
    for (;;) {
      await a1.client.idle();
      const status = await a1.client.groups.receiptStatus(gid, second.message.id);
      if (status?.deliveredToAll === true && status.read.includes('g-bob.1')) {
        assert.equal(status.readByAll, false);
        break;
      }
      if (Date.now() > deadline) assert.fail(`receipts incomplete: ${JSON.stringify(status)}`);
      await new Promise((r) => setTimeout(r, 50));
    }

    // Bob replies: his key goes to alice's two devices and carol.
    const reply = await b1.client.groups.send(gid, 'from bob');
    assert.equal(reply.recipients, 3);
    for (const q of [a1.events, a2.events, c1.events]) await got(q, 'from bob');

    // Carol is removed; alice's and bob's next messages use new chains.
    await a1.client.groups.remove(gid, 'g-carol');
    await b1.events.next('group-changed', 8_000, (e) => e.action === 'remove');
    const after1 = await a1.client.groups.send(gid, 'without carol');
    assert.equal(after1.rotated || after1.distributed > 0, true);
    assert.equal(after1.recipients, 2);
    const after2 = await b1.client.groups.send(gid, 'bob without carol');
    assert.equal(after2.recipients, 2);
    for (const q of [a2.events, b1.events]) await got(q, 'without carol');
    await got(a1.events, 'bob without carol');
    // Carol's stored sender keys cannot open the new chains: the very
    // ciphertexts the server was given are tried with her store.
    assert.equal(await tryGroupDecrypt(carol.store, 'g-alice', 1, aliceSent.last()), 'no-session');
    assert.equal(await tryGroupDecrypt(carol.store, 'g-bob', 1, bobSent.last()), 'no-session');
    // Carol stayed connected throughout and was handed nothing.
    await c1.client.idle();
    const carolMessages = (await carol.store.messages.list(gid)).map((m) => m.text);
    assert.deepEqual(carolMessages.sort(), ['from bob', 'hello group', 'second']);
    assert.deepEqual(
      c1.events
        .all('message')
        .map((e) => e.message.text)
        .sort(),
      ['from bob', 'hello group', 'second'],
    );
    assert.deepEqual(
      c1.events.all('decryption-failure'),
      [],
      'nothing undecryptable was delivered to carol either',
    );

    for (const c of [a1, a2, b1, c1]) await c.client.close();
  });

  it('refuses members the server adds without a signed change', async () => {
    const fay = await registerDevice(server, 'g-fay');
    const gus = await registerDevice(server, 'g-gus');
    const mallory = await registerDevice(server, 'g-mallory');
    const f1 = await fay.online();
    const g1 = await gus.online();
    const m1 = await mallory.online();
    const group = await f1.client.groups.create('trio', ['g-gus']);
    const gidBytes = groupIdToBytes(group.groupId);
    await f1.client.groups.send(group.groupId, 'hi gus');
    await got(g1.events, 'hi gus');

    // 1. The server rewrites membership with no change at all.
    await server.store.groups.setMembersUnsigned(gidBytes, [
      { account: 'g-fay', admin: true },
      { account: 'g-gus', admin: false },
      { account: 'g-mallory', admin: false },
    ]);
    const sent = await f1.client.groups.send(group.groupId, 'secret 1');
    assert.equal(sent.recipients, 1, 'gus only');
    assert.deepEqual(
      sent.refused.map((r) => `${r.account}.${r.deviceId}`),
      ['g-mallory.1'],
    );
    await got(g1.events, 'secret 1');

    // 2. The server appends a forged ADD signed by a key it controls.
    const head = await server.store.groups.getGroup(gidBytes);
    assert.ok(head !== undefined);
    const forger = await generateKeyPair(ctx.crypto, ctx.random);
    const forged = await signGroupChange(
      ctx,
      {
        account: 'g-fay',
        deviceId: 1,
        identityKey: forger.publicKey,
        privateKey: forger.privateKey,
        signedDeviceIdentity: undefined,
      },
      {
        groupId: group.groupId,
        version: head.version + 1,
        previousHash: head.headHash,
        action: 'add',
        target: 'g-mallory',
        members: [
          { account: 'g-fay', admin: true },
          { account: 'g-gus', admin: false },
          { account: 'g-mallory', admin: false },
        ],
        name: 'trio',
        timestamp: Date.now(),
      },
    );
    await server.store.groups.appendChange(gidBytes, {
      version: head.version + 1,
      signedChange: forged.bytes,
      headHash: await ctx.crypto.sha256(forged.bytes),
      members: [
        { account: 'g-fay', admin: true },
        { account: 'g-gus', admin: false },
        { account: 'g-mallory', admin: false },
      ],
    });
    const view = await g1.client.groups.refresh(group.groupId);
    assert.deepEqual([...view.members.keys()].sort(), ['g-fay', 'g-gus']);
    assert.deepEqual(view.unverifiedMembers, ['g-mallory']);
    const refused = await g1.events.next('group-change-refused', 5_000);
    assert.equal(refused.code, 'untrusted-author');
    const fromGus = await g1.client.groups.send(group.groupId, 'secret 2');
    assert.deepEqual(
      fromGus.refused.map((r) => r.account),
      ['g-mallory'],
    );
    await got(f1.events, 'secret 2');
    await m1.client.idle();
    assert.deepEqual(await mallory.store.messages.list(group.groupId), []);
    assert.equal(
      await mallory.store.senderKeys.loadSenderKey(protocolAddress('g-gus', 1), group.groupId),
      undefined,
    );
    for (const c of [f1, g1, m1]) await c.client.close();
  });

  it("refuses a change signed by an admin's removed companion (its ADV identity still verifies)", async () => {
    const hal = await registerDevice(server, 'g-hal');
    const hal2 = await linkDevice(server, hal, 'hal laptop');
    const ivy = await registerDevice(server, 'g-ivy');
    await registerDevice(server, 'g-kim');
    await registerDevice(server, 'g-max');
    const h1 = await hal.online();
    const group = await h1.client.groups.create('club', ['g-ivy']);
    const gidBytes = groupIdToBytes(group.groupId);
    // A current companion's change is accepted by the other members.
    const h2 = await hal2.online();
    await h2.client.groups.add(group.groupId, 'g-kim');
    const i1 = await ivy.online();
    const legit = await i1.client.groups.refresh(group.groupId);
    assert.deepEqual([...legit.members.keys()].sort(), ['g-hal', 'g-ivy', 'g-kim']);
    await i1.client.close();
    await h2.client.close();
    await h1.client.close();

    // Hal removes the laptop; its keys (a thief's, say) and the server then
    // append an ADD. The laptop's ADV identity still verifies against hal's
    // account key, but hal's signed list no longer holds it.
    await unlinkDevice(server, hal, hal2.deviceId);
    const head = await server.store.groups.getGroup(gidBytes);
    assert.ok(head !== undefined);
    const pair = await hal2.store.protocol.identity.getIdentityKeyPair();
    const local = await hal2.store.account.getRequired();
    const members = [
      { account: 'g-hal', admin: true },
      { account: 'g-ivy', admin: false },
      { account: 'g-kim', admin: false },
      { account: 'g-max', admin: false },
    ];
    const stolen = await signGroupChange(
      ctx,
      {
        account: 'g-hal',
        deviceId: hal2.deviceId,
        identityKey: pair.publicKey,
        privateKey: pair.privateKey,
        signedDeviceIdentity: local.signedDeviceIdentity,
      },
      {
        groupId: group.groupId,
        version: head.version + 1,
        previousHash: head.headHash,
        action: 'add',
        target: 'g-max',
        members,
        name: 'club',
        timestamp: Date.now(),
      },
    );
    await server.store.groups.appendChange(gidBytes, {
      version: head.version + 1,
      signedChange: stolen.bytes,
      headHash: await ctx.crypto.sha256(stolen.bytes),
      members,
    });

    const i2 = await ivy.online();
    const view = await i2.client.groups.refresh(group.groupId);
    assert.equal(view.version, head.version, 'the legit add stays, the stolen one is refused');
    assert.deepEqual([...view.members.keys()].sort(), ['g-hal', 'g-ivy', 'g-kim']);
    assert.deepEqual(view.unverifiedMembers, ['g-max']);
    const refused = await i2.events.next(
      'group-change-refused',
      5_000,
      (e) => e.version === head.version + 1,
    );
    assert.equal(refused.code, 'untrusted-author');
    await i2.client.close();
  });

  it('rotates on leave: the remaining members move to new chains the leaver cannot open', async () => {
    const lia = await registerDevice(server, 'g-lia');
    const moe = await registerDevice(server, 'g-moe');
    const ned = await registerDevice(server, 'g-ned');
    const liaSent = new SendRecorder();
    const moeSent = new SendRecorder();
    const l1 = await lia.online({ wrap: liaSent.wrap });
    const m1 = await moe.online({ wrap: moeSent.wrap });
    const n1 = await ned.online();
    const group = await l1.client.groups.create('leavers', ['g-moe', 'g-ned']);
    const gid = group.groupId;
    // Everyone holds lia's and moe's current chains, ned included.
    await l1.client.groups.send(gid, 'lia before');
    await m1.client.groups.send(gid, 'moe before');
    for (const [q, t] of [
      [m1.events, 'lia before'],
      [n1.events, 'lia before'],
      [l1.events, 'moe before'],
      [n1.events, 'moe before'],
    ] as const) {
      await got(q, t);
    }
    const chainOf = (bytes: Uint8Array): number => SenderKeyMessage.deserialize(bytes).chainId;
    const liaChain = chainOf(liaSent.last());
    const moeChain = chainOf(moeSent.last());

    await n1.client.groups.leave(gid);
    for (const q of [l1.events, m1.events]) {
      await q.next('group-changed', 8_000, (e) => e.action === 'leave' && e.target === 'g-ned');
    }
    const liaAfter = await l1.client.groups.send(gid, 'lia after');
    const moeAfter = await m1.client.groups.send(gid, 'moe after');
    assert.equal(liaAfter.recipients, 1);
    assert.equal(moeAfter.recipients, 1);
    await got(m1.events, 'lia after');
    await got(l1.events, 'moe after');
    assert.notEqual(chainOf(liaSent.last()), liaChain, "lia's next message uses a new chain");
    assert.notEqual(chainOf(moeSent.last()), moeChain, "moe's next message uses a new chain");
    // The leaver's own keys cannot open what the server was given.
    assert.equal(await tryGroupDecrypt(ned.store, 'g-lia', 1, liaSent.last()), 'no-session');
    assert.equal(await tryGroupDecrypt(ned.store, 'g-moe', 1, moeSent.last()), 'no-session');
    // Ned stayed connected and got neither message.
    await n1.client.idle();
    const nedTexts = (await ned.store.messages.list(gid)).map((m) => m.text).sort();
    assert.deepEqual(nedTexts, ['lia before', 'moe before']);
    for (const c of [l1, m1, n1]) await c.client.close();
  });

  it('rotates when a member device is unlinked: the removed device cannot decrypt', async () => {
    const dana = await registerDevice(server, 'g-dana');
    const erin = await registerDevice(server, 'g-erin');
    const erin2 = await linkDevice(server, erin, 'phone 2');
    const d1 = await dana.online();
    const e1first = await erin.online();
    let e1 = e1first;
    const e2 = await erin2.online();
    const group = await d1.client.groups.create('pair', ['g-erin']);
    await d1.client.groups.send(group.groupId, 'before unlink');
    await got(e2.events, 'before unlink');
    await got(e1.events, 'before unlink');
    await e2.client.close();
    // The primary's admin connection would replace e1's, so e1 reconnects after.
    await e1first.client.close();
    await unlinkDevice(server, erin, erin2.deviceId);

    // Sent while erin 1 is offline, so the ciphertext is still queued.
    const sent = await d1.client.groups.send(group.groupId, 'after unlink');
    assert.equal(sent.recipients, 1, 'only erin 1');
    assert.ok(sent.rotated || sent.distributed === 1, 'erin 1 needed a new key: new chain');
    const queued = await server.store.queue.page('g-erin', 1, 0, 100);
    const ciphertexts = queued.envelopes.filter((e) => e.type === 3).map((e) => e.content);
    assert.ok(ciphertexts.length >= 1);
    const last = ciphertexts[ciphertexts.length - 1];
    assert.ok(last !== undefined);
    // The unlinked device's stored keys (it held dana's old chain) cannot open it.
    assert.equal(await tryGroupDecrypt(erin2.store, 'g-dana', 1, last), 'no-session');
    // Control: erin 2 could decrypt the message sent before the unlink.
    e1 = await erin.online();
    await got(e1.events, 'after unlink');
    for (const c of [d1, e1]) await c.client.close();
  });
});
