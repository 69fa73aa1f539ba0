import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { newIdentity, registeredDevice, type ConnectedDevice } from './helpers/device.js';
import {
  GroupChange_Action,
  assertGroupChanged,
  assertOk,
  createGroupOver,
  linkHash,
  newGroupId,
  signChange,
} from './helpers/groups.js';
import { assertError } from './helpers/linking.js';
import { startTestServer, type TestServer } from './helpers/server.js';

describe('groups: membership chain', () => {
  let t: TestServer;
  let n = 0;
  before(async () => {
    t = await startTestServer({ limits: { maxGroupMembers: 4 } });
  });
  after(() => t.close());

  const update = (device: ConnectedDevice, change: Awaited<ReturnType<typeof signChange>>) =>
    device.client.request({ case: 'updateGroup', value: { change } });

  async function trio(): Promise<[ConnectedDevice, ConnectedDevice, ConnectedDevice]> {
    n += 1;
    return [
      await registeredDevice(t.wsUrl, `ga${n}`),
      await registeredDevice(t.wsUrl, `gb${n}`),
      await registeredDevice(t.wsUrl, `gc${n}`),
    ];
  }

  it('creates a group, tells the members, and serves the chain and the list', async () => {
    const [alice, bob] = await trio();
    const { groupId, head } = await createGroupOver(alice, [bob.account]);
    assertGroupChanged(await bob.client.nextPush(), groupId);
    const got = await bob.client.request({ case: 'getGroup', value: { groupId } });
    assertOk(got);
    assert.ok(got.body.case === 'getGroup');
    assert.equal(got.body.value.changes.length, 1);
    assert.deepEqual(got.body.value.changes[0]?.signature, head.signature);
    assert.deepEqual(got.body.value.changes[0]?.change, head.change);
    const list = await alice.client.request({ case: 'listGroups', value: {} });
    assert.ok(list.body.case === 'listGroups');
    assert.deepEqual(
      list.body.value.groupIds.map((id) => new Uint8Array(id)),
      [groupId],
    );
    // The creator's own device is not told about its own change.
    assert.deepEqual(await alice.client.drainPushesFor(50), []);
  });

  it('refuses garbage, forgeries, unknown members, oversize groups and taken ids', async () => {
    const [alice, bob] = await trio();
    const groupId = newGroupId();
    const members = [
      { account: alice.account, admin: true },
      { account: bob.account, admin: false },
    ];
    const base = { groupId, version: 0, action: GroupChange_Action.CREATE, members };
    const create = async (change: Awaited<ReturnType<typeof signChange>>) =>
      alice.client.request({ case: 'createGroup', value: { change } });

    const garbage = await signChange(alice, base, { changeBytes: new Uint8Array([0xff, 0xff]) });
    assertError(await create(garbage), 'invalid-group-change');
    const forged = await signChange(alice, base, { signWith: await newIdentity() });
    assertError(await create(forged), 'invalid-signature');
    // Signed by bob's key but claiming alice as author, sent by alice.
    const otherKey = await signChange({ ...alice, identity: bob.identity }, base);
    assertError(await create(otherKey), 'invalid-signature');
    // Authored as bob, sent by alice.
    assertError(await create(await signChange({ ...bob }, base)), 'forbidden');
    assertError(
      await create(
        await signChange(alice, {
          ...base,
          members: [...members, { account: 'nobody-here', admin: false }],
        }),
      ),
      'unknown-account',
    );
    const many = ['m1', 'm2', 'm3', 'm4'].map((account) => ({ account, admin: false }));
    assertError(
      await create(await signChange(alice, { ...base, members: [...members, ...many] })),
      'group-too-large',
    );
    assertError(
      await create(
        await signChange(alice, { ...base, members: [{ account: alice.account, admin: false }] }),
      ),
      'invalid-group-change',
    );
    assertError(
      await create(await signChange(alice, { ...base, version: 1 })),
      'invalid-group-change',
    );
    assertError(
      await create(await signChange(alice, { ...base, groupId: new Uint8Array(8) })),
      'invalid-group-change',
    );
    assertError(
      await create(
        await signChange(alice, {
          ...base,
          members: [...members, { account: bob.account, admin: true }],
        }),
      ),
      'invalid-group-change',
    );
    assertOk(await create(await signChange(alice, base)));
    assertError(await create(await signChange(alice, base)), 'group-exists');
    assertError(
      await alice.client.request({ case: 'createGroup', value: {} }),
      'malformed-request',
    );
  });

  it('appends add / remove / leave and enforces version, hash and rights', async () => {
    const [alice, bob, carol] = await trio();
    const { groupId, head } = await createGroupOver(alice, [bob.account]);
    assertGroupChanged(await bob.client.nextPush(), groupId);
    const h0 = await linkHash(head);
    const v0 = [
      { account: alice.account, admin: true },
      { account: bob.account, admin: false },
    ];
    const withCarol = [...v0, { account: carol.account, admin: false }];
    const update = async (
      device: ConnectedDevice,
      change: Awaited<ReturnType<typeof signChange>>,
    ) => device.client.request({ case: 'updateGroup', value: { change } });
    const add = { groupId, version: 1, previousHash: h0, action: GroupChange_Action.ADD };

    assertError(
      await update(
        bob,
        await signChange(bob, { ...add, target: carol.account, members: withCarol }),
      ),
      'not-group-admin',
    );
    assertError(
      await update(
        alice,
        await signChange(alice, { ...add, version: 2, target: carol.account, members: withCarol }),
      ),
      'group-version-conflict',
    );
    assertError(
      await update(
        alice,
        await signChange(alice, {
          ...add,
          previousHash: new Uint8Array(32),
          target: carol.account,
          members: withCarol,
        }),
      ),
      'group-version-conflict',
    );
    // The member list must differ by exactly the target.
    assertError(
      await update(alice, await signChange(alice, { ...add, target: carol.account, members: v0 })),
      'invalid-group-change',
    );
    assertError(
      await update(
        alice,
        await signChange(alice, {
          ...add,
          target: carol.account,
          members: [
            { account: alice.account, admin: true },
            { account: bob.account, admin: true },
            { account: carol.account, admin: false },
          ],
        }),
      ),
      'invalid-group-change',
    );
    assertError(
      await update(
        alice,
        await signChange(alice, {
          ...add,
          target: 'nobody-here',
          members: [...v0, { account: 'nobody-here', admin: false }],
        }),
      ),
      'unknown-account',
    );
    const added = await signChange(alice, { ...add, target: carol.account, members: withCarol });
    assertOk(await update(alice, added));
    assertGroupChanged(await bob.client.nextPush(), groupId);
    assertGroupChanged(await carol.client.nextPush(), groupId);
    const h1 = await linkHash(added);

    const next = { groupId, version: 2, previousHash: h1 };
    // Bob may not remove, nor make carol leave.
    assertError(
      await update(
        bob,
        await signChange(bob, {
          ...next,
          action: GroupChange_Action.REMOVE,
          target: carol.account,
          members: v0,
        }),
      ),
      'not-group-admin',
    );
    assertError(
      await update(
        bob,
        await signChange(bob, {
          ...next,
          action: GroupChange_Action.LEAVE,
          target: carol.account,
          members: v0,
        }),
      ),
      'forbidden',
    );
    const bobLeaves = await signChange(bob, {
      ...next,
      action: GroupChange_Action.LEAVE,
      target: bob.account,
      members: [
        { account: alice.account, admin: true },
        { account: carol.account, admin: false },
      ],
    });
    assertOk(await update(bob, bobLeaves));
    assertGroupChanged(await alice.client.nextPush(), groupId);
    assertGroupChanged(await carol.client.nextPush(), groupId);

    // Bob, just gone, may still read the chain (to learn he is out) …
    const chain = await bob.client.request({ case: 'getGroup', value: { groupId } });
    assertOk(chain);
    assert.ok(chain.body.case === 'getGroup');
    // With no state, from the newest snapshot listing him (the add of carol).
    assert.equal(chain.body.value.firstVersion, 1);
    assert.equal(chain.body.value.headVersion, 2);
    assert.equal(chain.body.value.changes.length, 2);
    const bobList = await bob.client.request({ case: 'listGroups', value: {} });
    assert.ok(bobList.body.case === 'listGroups');
    assert.equal(bobList.body.value.groupIds.length, 0);

    // … until the next change; then only members can.
    const removeCarol = await signChange(alice, {
      groupId,
      version: 3,
      previousHash: await linkHash(bobLeaves),
      action: GroupChange_Action.REMOVE,
      target: carol.account,
      members: [{ account: alice.account, admin: true }],
    });
    assertOk(await update(alice, removeCarol));
    assertGroupChanged(await carol.client.nextPush(), groupId);
    assertError(
      await bob.client.request({ case: 'getGroup', value: { groupId } }),
      'not-group-member',
    );
    assertOk(await carol.client.request({ case: 'getGroup', value: { groupId } }));
    assertError(
      await alice.client.request({ case: 'getGroup', value: { groupId: newGroupId() } }),
      'unknown-group',
    );
    assertError(
      await alice.client.request({ case: 'getGroup', value: { groupId: new Uint8Array(3) } }),
      'malformed-request',
    );
  });

  it('serves only the changes after a known version, and a snapshot to a reader with none', async () => {
    const [alice, bob, carol] = await trio();
    const { groupId, head } = await createGroupOver(alice, [bob.account]);
    const base = [
      { account: alice.account, admin: true },
      { account: bob.account, admin: false },
    ];
    const withCarol = [...base, { account: carol.account, admin: false }];
    const links = [head];
    // Six changes: carol added and removed three times.
    for (let version = 1; version <= 6; version++) {
      const adding = version % 2 === 1;
      const previous = links[links.length - 1];
      assert.ok(previous !== undefined);
      const link = await signChange(alice, {
        groupId,
        version,
        previousHash: await linkHash(previous),
        action: adding ? GroupChange_Action.ADD : GroupChange_Action.REMOVE,
        target: carol.account,
        members: adding ? withCarol : base,
      });
      assertOk(await alice.client.request({ case: 'updateGroup', value: { change: link } }));
      links.push(link);
    }
    const fetch = async (by: ConnectedDevice, knownVersion?: number) => {
      const response = await by.client.request({
        case: 'getGroup',
        value: { groupId, ...(knownVersion === undefined ? {} : { knownVersion }) },
      });
      assertOk(response);
      assert.ok(response.body.case === 'getGroup');
      const { changes, firstVersion, headVersion } = response.body.value;
      assert.equal(headVersion, 6);
      // Each served change is the stored link of its version, byte for byte.
      changes.forEach((c, i) => assert.deepEqual(c.signature, links[firstVersion + i]?.signature));
      return { count: changes.length, firstVersion };
    };
    assert.deepEqual(await fetch(bob, 4), { count: 2, firstVersion: 5 });
    assert.deepEqual(await fetch(bob, 0), { count: 6, firstVersion: 1 });
    assert.deepEqual(await fetch(bob, 6), { count: 0, firstVersion: 7 });
    assert.deepEqual(await fetch(bob, 40), { count: 0, firstVersion: 7 });
    // No state: the newest admin-signed full membership listing the reader
    // (the last add), then what follows — not the whole history.
    assert.deepEqual(await fetch(bob), { count: 2, firstVersion: 5 });
    assert.deepEqual(await fetch(carol), { count: 2, firstVersion: 5 });
    for (const d of [alice, bob, carol]) d.client.close();
  });

  it('accepts checkpoints from admins only, unchanged, and starts readers with no state there', async () => {
    const [alice, bob, carol] = await trio();
    const { groupId, head } = await createGroupOver(alice, [bob.account, carol.account]);
    const all = [
      { account: alice.account, admin: true },
      { account: bob.account, admin: false },
      { account: carol.account, admin: false },
    ];
    const rest = all.filter((m) => m.account !== carol.account);
    const removeCarol = await signChange(alice, {
      groupId,
      version: 1,
      previousHash: await linkHash(head),
      action: GroupChange_Action.REMOVE,
      target: carol.account,
      members: rest,
    });
    assertOk(await update(alice, removeCarol));
    const at2 = { groupId, version: 2, previousHash: await linkHash(removeCarol) };
    const checkpoint = { ...at2, action: GroupChange_Action.CHECKPOINT };
    assertError(
      await update(bob, await signChange(bob, { ...checkpoint, members: rest })),
      'not-group-admin',
    );
    assertError(
      await update(alice, await signChange(alice, { ...checkpoint, members: all })),
      'invalid-group-change',
    );
    assertError(
      await update(
        alice,
        await signChange(alice, { ...checkpoint, target: bob.account, members: rest }),
      ),
      'invalid-group-change',
    );
    const good = await signChange(alice, { ...checkpoint, members: rest });
    assertOk(await update(alice, good));
    const fromScratch = await bob.client.request({ case: 'getGroup', value: { groupId } });
    assert.ok(fromScratch.body.case === 'getGroup', fromScratch.error?.message);
    assert.equal(fromScratch.body.value.firstVersion, 2);
    assert.equal(fromScratch.body.value.snapshotVersion, 2);
    assert.deepEqual(fromScratch.body.value.changes[0]?.signature, good.signature);
    // Carol, removed just before the checkpoint, can still read her removal.
    const carolView = await carol.client.request({
      case: 'getGroup',
      value: { groupId, knownVersion: 0 },
    });
    assert.ok(carolView.body.case === 'getGroup', carolView.error?.message);
    assert.equal(carolView.body.value.changes.length, 2);
    for (const d of [alice, bob, carol]) d.client.close();
  });

  it('lets a test rewrite membership through the store without a change (malicious server)', async () => {
    const [alice, bob, carol] = await trio();
    const { groupId } = await createGroupOver(alice, [bob.account]);
    await t.server.store.groups.setMembersUnsigned(groupId, [
      { account: alice.account, admin: true },
      { account: bob.account, admin: false },
      { account: carol.account, admin: false },
    ]);
    const got = await carol.client.request({ case: 'getGroup', value: { groupId } });
    assertOk(got);
    assert.ok(got.body.case === 'getGroup');
    // The chain still says two members: a client verifying it will notice.
    assert.equal(got.body.value.changes.length, 1);
  });
});
