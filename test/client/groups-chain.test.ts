/**
 * The membership chain verifier (pure): every rule that keeps a server or a
 * non-admin from changing a group's membership, link by link, plus the
 * sender-key plan (who needs the key, when to rotate) and the KV-backed
 * sender key store's conformance.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { nodeCrypto } from '../../src/crypto/node.js';
import { systemClock } from '../../src/crypto/provider.js';
import type { ProtocolContext } from '../../src/protocol/context.js';
import { generateKeyPair, type KeyPair } from '../../src/protocol/curve.js';
import {
  acceptLinkPayload,
  createSignedDeviceIdentity,
  wrapWithHmac,
} from '../../src/protocol/adv/index.js';
import {
  signGroupChange,
  parseSignedChange,
  type ChangeAuthor,
  type GroupChangeFields,
  type GroupLink,
} from '../../src/client/core/groups/group-change.js';
import { groupIdFromBytes, type GroupId } from '../../src/client/core/groups/group-id.js';
import {
  verifyChain,
  type AuthorTrust,
  type GroupState,
  type ServedLinks,
} from '../../src/client/core/groups/membership-chain.js';
import { planSenderKey } from '../../src/client/core/groups/sender-key-tracker.js';
import { createDeviceStore } from '../../src/client/core/store/device-store.js';
import { MemoryBackend } from '../../src/client/core/store/memory-backend.js';
import { runSenderKeyStoreConformance } from '../protocol/sender-key-store-conformance.js';

/** What a server serves: the whole chain, or the links after the `known` head. */
function served(links: readonly GroupLink[], known?: GroupState): ServedLinks {
  const firstVersion = known === undefined ? 0 : known.version + 1;
  return { links: links.slice(firstVersion), firstVersion, headVersion: links.length - 1 };
}

const ctx: ProtocolContext = {
  crypto: nodeCrypto,
  random: (n) => nodeCrypto.randomBytes(n),
  clock: systemClock,
};

interface Account {
  readonly name: string;
  readonly key: KeyPair;
}

async function account(name: string): Promise<Account> {
  return { name, key: await generateKeyPair(ctx.crypto, ctx.random) };
}

function primary(a: Account): ChangeAuthor {
  return {
    account: a.name,
    deviceId: 1,
    identityKey: a.key.publicKey,
    privateKey: a.key.privateKey,
    signedDeviceIdentity: undefined,
  };
}

/** A companion of `a` with a real ADV identity (linking steps 3–4). */
async function companion(a: Account, deviceId: number): Promise<ChangeAuthor> {
  const own = await generateKeyPair(ctx.crypto, ctx.random);
  const secret = ctx.random(32);
  const signed = await createSignedDeviceIdentity(ctx, {
    accountKeyPair: a.key,
    companionIdentityKey: own.publicKey,
    keyIndex: 1,
    rawId: 7,
    timestamp: Math.floor(Date.now() / 1000),
  });
  const accepted = await acceptLinkPayload(ctx, {
    linkingSecret: secret,
    companionIdentityKeyPair: own,
    hmacBytes: await wrapWithHmac(ctx, secret, signed),
  });
  return {
    account: a.name,
    deviceId,
    identityKey: own.publicKey,
    privateKey: own.privateKey,
    signedDeviceIdentity: accepted.signedIdentity,
  };
}

/** Trust in `accounts`; every ADV-valid companion is current unless `removed`. */
function trustOf(...accounts: Account[]): AuthorTrust & { removed: ChangeAuthor[] } {
  const keys = new Map(accounts.map((a) => [a.name, a.key.publicKey]));
  const removed: ChangeAuthor[] = [];
  return {
    removed,
    async accountKey(name) {
      const key = keys.get(name);
      if (key === undefined) throw new Error(`unknown ${name}`);
      return key;
    },
    async isCurrentDevice(name, deviceId, identityKey) {
      return !removed.some(
        (r) => r.account === name && r.deviceId === deviceId && r.identityKey.equals(identityKey),
      );
    },
  };
}

type Members = Array<[string, boolean]>;

async function link(
  author: ChangeAuthor,
  groupId: GroupId,
  previous: GroupLink | undefined,
  action: GroupChangeFields['action'],
  target: string,
  members: Members,
  overrides: Partial<GroupChangeFields> = {},
): Promise<GroupLink> {
  return signGroupChange(ctx, author, {
    groupId,
    version: previous === undefined ? 0 : previous.change.version + 1,
    previousHash:
      previous === undefined ? new Uint8Array(0) : await ctx.crypto.sha256(previous.bytes),
    action,
    target,
    members: members.map(([a, admin]) => ({ account: a, admin })),
    name: 'club',
    timestamp: 1,
    ...overrides,
  });
}

describe('membership chain verification', () => {
  it('accepts create → add (by a companion admin) → remove → leave', async () => {
    const alice = await account('alice');
    const bob = await account('bob');
    const carol = await account('carol');
    const gid = groupIdFromBytes(ctx.random(16));
    const l0 = await link(primary(alice), gid, undefined, 'create', '', [
      ['alice', true],
      ['bob', false],
    ]);
    const l1 = await link(await companion(alice, 2), gid, l0, 'add', 'carol', [
      ['alice', true],
      ['bob', false],
      ['carol', false],
    ]);
    const l2 = await link(primary(alice), gid, l1, 'remove', 'bob', [
      ['alice', true],
      ['carol', false],
    ]);
    const l3 = await link(primary(carol), gid, l2, 'leave', 'carol', [['alice', true]]);
    const verdict = await verifyChain(
      ctx,
      gid,
      served([l0, l1, l2, l3]),
      trustOf(alice, bob, carol),
    );
    assert.equal(verdict.refused, undefined);
    assert.equal(verdict.state?.version, 3);
    assert.deepEqual([...(verdict.state?.members.keys() ?? [])], ['alice']);
    // Links survive the wire: parsing the bytes again gives the same link.
    assert.deepEqual(parseSignedChange(l1.bytes).change, l1.change);
  });

  const cases: Array<[string, string, (c: Ctx) => Promise<GroupLink[]>]> = [
    [
      'a change signed by a key the server holds (claiming device 1)',
      'untrusted-author',
      async (c) => {
        const forger = await account('alice');
        return [
          c.l0,
          await link(primary(forger), c.gid, c.l0, 'add', 'mallory', [
            ['alice', true],
            ['bob', false],
            ['mallory', false],
          ]),
        ];
      },
    ],
    [
      'a companion without an ADV identity',
      'untrusted-author',
      async (c) => {
        const comp = await companion(c.alice, 2);
        return [
          c.l0,
          await link({ ...comp, signedDeviceIdentity: undefined }, c.gid, c.l0, 'add', 'mallory', [
            ['alice', true],
            ['bob', false],
            ['mallory', false],
          ]),
        ];
      },
    ],
    [
      "a companion of another account posing as alice's",
      'untrusted-author',
      async (c) => {
        const comp = await companion(c.bob, 2);
        return [
          c.l0,
          await link({ ...comp, account: 'alice' }, c.gid, c.l0, 'add', 'mallory', [
            ['alice', true],
            ['bob', false],
            ['mallory', false],
          ]),
        ];
      },
    ],
    [
      'a tampered signature',
      'bad-signature',
      async (c) => {
        const l1 = await link(primary(c.alice), c.gid, c.l0, 'add', 'carol', [
          ['alice', true],
          ['bob', false],
          ['carol', false],
        ]);
        const sig = l1.signature.slice();
        sig[5] = (sig[5] ?? 0) ^ 1;
        return [c.l0, { ...l1, signature: sig }];
      },
    ],
    [
      'a non-admin adding',
      'not-authorized',
      async (c) => [
        c.l0,
        await link(primary(c.bob), c.gid, c.l0, 'add', 'mallory', [
          ['alice', true],
          ['bob', false],
          ['mallory', false],
        ]),
      ],
    ],
    [
      'a member list that adds more than the target',
      'bad-membership',
      async (c) => [
        c.l0,
        await link(primary(c.alice), c.gid, c.l0, 'add', 'carol', [
          ['alice', true],
          ['bob', false],
          ['carol', false],
          ['mallory', false],
        ]),
      ],
    ],
    [
      'a leave on behalf of someone else',
      'not-authorized',
      async (c) => [
        c.l0,
        await link(primary(c.alice), c.gid, c.l0, 'leave', 'bob', [['alice', true]]),
      ],
    ],
    [
      'a wrong previous hash (a dropped or reordered change)',
      'broken-chain',
      async (c) => [
        c.l0,
        await link(primary(c.alice), c.gid, c.l0, 'remove', 'bob', [['alice', true]], {
          previousHash: new Uint8Array(32),
        }),
      ],
    ],
    [
      'a skipped version',
      'broken-chain',
      async (c) => [
        c.l0,
        await link(primary(c.alice), c.gid, c.l0, 'remove', 'bob', [['alice', true]], {
          version: 2,
        }),
      ],
    ],
    [
      'a second create',
      'broken-chain',
      async (c) => [
        c.l0,
        await link(primary(c.alice), c.gid, c.l0, 'create', '', [
          ['alice', true],
          ['mallory', false],
        ]),
      ],
    ],
    [
      'a change by a removed admin',
      'not-authorized',
      async (c) => {
        const l1 = await link(primary(c.alice), c.gid, c.l0, 'remove', 'bob', [['alice', true]]);
        return [
          c.l0,
          l1,
          await link(primary(c.bob), c.gid, l1, 'add', 'mallory', [
            ['alice', true],
            ['mallory', false],
          ]),
        ];
      },
    ],
  ];

  interface Ctx {
    readonly alice: Account;
    readonly bob: Account;
    readonly gid: GroupId;
    readonly l0: GroupLink;
  }

  for (const [what, code, build] of cases) {
    it(`refuses ${what} (${code}) and keeps the last verified state`, async () => {
      const alice = await account('alice');
      const bob = await account('bob');
      const gid = groupIdFromBytes(ctx.random(16));
      const l0 = await link(primary(alice), gid, undefined, 'create', '', [
        ['alice', true],
        ['bob', false],
      ]);
      const links = await build({ alice, bob, gid, l0 });
      const verdict = await verifyChain(
        ctx,
        gid,
        served(links),
        trustOf(alice, bob, await account('carol')),
      );
      assert.equal(verdict.refused?.code, code);
      assert.equal(verdict.refused?.version, links.length - 1);
      assert.equal(verdict.state?.version, links.length - 2);
      assert.ok(!(verdict.state?.members.has('mallory') ?? false));
    });
  }

  it('refuses a served chain that hides a verified change (rollback)', async () => {
    const alice = await account('alice');
    const gid = groupIdFromBytes(ctx.random(16));
    const l0 = await link(primary(alice), gid, undefined, 'create', '', [
      ['alice', true],
      ['bob', false],
    ]);
    const l1 = await link(primary(alice), gid, l0, 'remove', 'bob', [['alice', true]]);
    const full = await verifyChain(ctx, gid, served([l0, l1]), trustOf(alice));
    assert.ok(full.state !== undefined);
    const rolled = await verifyChain(
      ctx,
      gid,
      served([l0], full.state),
      trustOf(alice),
      full.state,
    );
    assert.equal(rolled.refused?.code, 'rollback');
    assert.equal(rolled.state?.version, 1, 'the verified removal stays in force');
  });
});

describe('snapshots for readers with no state', () => {
  /** create(alice; bob) → remove bob → add carol (v2) → remove carol → add dave (v4) → remove dave. */
  async function history() {
    const alice = await account('alice');
    const mallory = await account('mallory');
    const gid = groupIdFromBytes(ctx.random(16));
    const a = primary(alice);
    const l0 = await link(a, gid, undefined, 'create', '', [
      ['alice', true],
      ['bob', false],
    ]);
    const l1 = await link(a, gid, l0, 'remove', 'bob', [['alice', true]]);
    const l2 = await link(a, gid, l1, 'add', 'carol', [
      ['alice', true],
      ['carol', false],
    ]);
    const l3 = await link(a, gid, l2, 'add', 'dave', [
      ['alice', true],
      ['carol', false],
      ['dave', false],
    ]);
    const l4 = await link(a, gid, l3, 'remove', 'dave', [
      ['alice', true],
      ['carol', false],
    ]);
    return { alice, mallory, gid, chain: [l0, l1, l2, l3, l4] };
  }

  /** Served from `from` on, as to a reader with no state. */
  function tail(chain: readonly GroupLink[], from: number): ServedLinks {
    return { links: chain.slice(from), firstVersion: from, headVersion: chain.length - 1 };
  }

  it('starts a new member at an admin-signed add listing it, then verifies what follows', async () => {
    const { alice, gid, chain } = await history();
    const verdict = await verifyChain(ctx, gid, tail(chain, 3), trustOf(alice), undefined, 'carol');
    assert.equal(verdict.refused, undefined);
    assert.equal(verdict.state?.version, 4);
    assert.deepEqual([...(verdict.state?.members.keys() ?? [])], ['alice', 'carol']);
    assert.deepEqual(verdict.accepted, chain.slice(3));
  });

  it('refuses a forged snapshot: not signed by an admin it lists, or not by the author', async () => {
    const { alice, mallory, gid, chain } = await history();
    const l4 = chain[4];
    assert.ok(l4 !== undefined);
    // Mallory (an account, with the server) signs a "snapshot" adding herself.
    const byOutsider = await link(primary(mallory), gid, l4, 'add', 'mallory', [
      ['alice', true],
      ['carol', false],
      ['mallory', false],
    ]);
    const trust = trustOf(alice, mallory);
    const outsider = await verifyChain(
      ctx,
      gid,
      tail([...chain, byOutsider], 5),
      trust,
      undefined,
      'carol',
    );
    assert.equal(outsider.refused?.code, 'not-authorized');
    assert.equal(outsider.state, undefined);
    // The server signs one in an admin's name with its own key.
    const forgedKey = await account('alice');
    const inAlicesName = await link(primary(forgedKey), gid, l4, 'add', 'mallory', [
      ['alice', true],
      ['carol', false],
      ['mallory', false],
    ]);
    const forged = await verifyChain(
      ctx,
      gid,
      tail([...chain, inAlicesName], 5),
      trust,
      undefined,
      'carol',
    );
    assert.equal(forged.refused?.code, 'untrusted-author');
    assert.equal(forged.state, undefined);
    // A remove is no snapshot: it says nothing of who else was added before.
    const fromRemove = await verifyChain(ctx, gid, tail(chain, 4), trust, undefined, 'carol');
    assert.equal(fromRemove.refused?.code, 'broken-chain');
    // A snapshot that does not list the reader.
    const notListed = await verifyChain(ctx, gid, tail(chain, 3), trust, undefined, 'erin');
    assert.equal(notListed.refused?.code, 'bad-membership');
  });

  it('verifies checkpoints in the chain (admin only, unchanged) and starts readers at them', async () => {
    const { alice, gid, chain } = await history();
    const carol = await account('carol');
    const l4 = chain[4];
    assert.ok(l4 !== undefined);
    const members: Members = [
      ['alice', true],
      ['carol', false],
    ];
    const trust = trustOf(alice, carol);
    const cp = await link(primary(alice), gid, l4, 'checkpoint', '', members);
    const inChain = await verifyChain(ctx, gid, served([...chain, cp]), trust);
    assert.equal(inChain.refused, undefined);
    assert.equal(inChain.state?.version, 5);
    const fromCheckpoint = await verifyChain(
      ctx,
      gid,
      tail([...chain, cp], 5),
      trust,
      undefined,
      'carol',
    );
    assert.equal(fromCheckpoint.refused, undefined);
    assert.deepEqual([...(fromCheckpoint.state?.members ?? [])], members);
    // A non-admin's checkpoint, and one that slips in a member, are refused.
    const byCarol = await link(primary(carol), gid, l4, 'checkpoint', '', members);
    const notAdmin = await verifyChain(ctx, gid, served([...chain, byCarol]), trust);
    assert.equal(notAdmin.refused?.code, 'not-authorized');
    const slipped = await link(primary(alice), gid, l4, 'checkpoint', '', [
      ...members,
      ['mallory', false],
    ]);
    const changed = await verifyChain(ctx, gid, served([...chain, slipped]), trust);
    assert.equal(changed.refused?.code, 'bad-membership');
    assert.equal(changed.state?.version, 4);
  });

  it('never lets a member holding a verified head start over at a snapshot', async () => {
    const { alice, gid, chain } = await history();
    const trust = trustOf(alice);
    const known = await verifyChain(ctx, gid, served(chain.slice(0, 3)), trust);
    assert.equal(known.state?.version, 2);
    // The server skips v3 and serves the later links as if they followed.
    const skipped = await verifyChain(ctx, gid, tail(chain, 4), trust, known.state, 'carol');
    assert.equal(skipped.refused?.code, 'rollback');
    assert.equal(skipped.state?.version, 2);
    // Served properly (after v2), the member gets just the two new links.
    const fresh = await verifyChain(
      ctx,
      gid,
      served(chain, known.state),
      trust,
      known.state,
      'carol',
    );
    assert.equal(fresh.refused, undefined);
    assert.deepEqual(fresh.accepted, chain.slice(3));
  });
});

describe('companion authors removed from their account', () => {
  async function setup() {
    const alice = await account('alice');
    const gid = groupIdFromBytes(ctx.random(16));
    const l0 = await link(primary(alice), gid, undefined, 'create', '', [
      ['alice', true],
      ['bob', false],
    ]);
    const comp = await companion(alice, 2);
    const l1 = await link(comp, gid, l0, 'add', 'mallory', [
      ['alice', true],
      ['bob', false],
      ['mallory', false],
    ]);
    return { alice, gid, l0, comp, l1 };
  }

  it("refuses a removed companion's new change (its ADV identity still verifies)", async () => {
    const { alice, gid, l0, comp, l1 } = await setup();
    const trust = trustOf(alice);
    trust.removed.push(comp);
    const verdict = await verifyChain(ctx, gid, served([l0, l1]), trust);
    assert.equal(verdict.refused?.code, 'untrusted-author');
    assert.equal(verdict.refused?.version, 1);
    assert.equal(verdict.state?.version, 0);
    assert.ok(!(verdict.state?.members.has('mallory') ?? true));
    assert.deepEqual(verdict.accepted, [l0]);
  });

  it("accepts a current companion's change", async () => {
    const { alice, gid, l0, l1 } = await setup();
    const verdict = await verifyChain(ctx, gid, served([l0, l1]), trustOf(alice));
    assert.equal(verdict.refused, undefined);
    assert.equal(verdict.state?.version, 1);
  });

  it('keeps a change this client accepted before its companion was removed', async () => {
    const { alice, gid, l0, comp, l1 } = await setup();
    const trust = trustOf(alice);
    const first = await verifyChain(ctx, gid, served([l0, l1]), trust);
    assert.ok(first.state !== undefined);
    trust.removed.push(comp);
    const l2 = await link(primary(alice), gid, l1, 'remove', 'bob', [
      ['alice', true],
      ['mallory', false],
    ]);
    const again = await verifyChain(
      ctx,
      gid,
      served([l0, l1, l2], first.state),
      trust,
      first.state,
    );
    assert.equal(again.refused, undefined);
    assert.equal(again.state?.version, 2);
    assert.ok(again.state?.members.has('mallory'));
  });

  it("a current admin's later change releases a held change; a non-admin's does not", async () => {
    const { alice, gid, l0, comp, l1 } = await setup();
    const bob = await account('bob');
    const trust = trustOf(alice, bob);
    trust.removed.push(comp);
    // Bob (no admin) leaving on top cannot vouch for the removed companion's add.
    const byBob = await link(primary(bob), gid, l1, 'leave', 'bob', [
      ['alice', true],
      ['mallory', false],
    ]);
    const refused = await verifyChain(ctx, gid, served([l0, l1, byBob]), trust);
    assert.equal(refused.refused?.code, 'untrusted-author');
    assert.equal(refused.refused?.version, 1);
    assert.equal(refused.state?.version, 0);
    // Alice's primary built on it, so her client verified it while it was current.
    const byAlice = await link(primary(alice), gid, l1, 'remove', 'bob', [
      ['alice', true],
      ['mallory', false],
    ]);
    const released = await verifyChain(ctx, gid, served([l0, l1, byAlice]), trust);
    assert.equal(released.refused, undefined);
    assert.equal(released.state?.version, 2);
    assert.deepEqual(released.accepted, [l0, l1, byAlice]);
  });
});

describe('sender key plan', () => {
  const dev = (account: string, deviceId: number, registrationId = 1) => ({
    account,
    deviceId,
    registrationId,
  });
  it('hands the key only to devices without it', () => {
    const holders = new Map([['bob.1', dev('bob', 1)]]);
    const plan = planSenderKey([dev('bob', 1), dev('bob', 2)], holders);
    assert.equal(plan.rotate, false);
    assert.deepEqual(plan.needKey, [dev('bob', 2)]);
  });
  it('rotates when a holder left, was unlinked or reinstalled', () => {
    const holders = new Map([
      ['bob.1', dev('bob', 1)],
      ['carol.1', dev('carol', 1)],
    ]);
    assert.equal(planSenderKey([dev('bob', 1)], holders).rotate, true, 'carol gone');
    assert.equal(
      planSenderKey([dev('bob', 1), dev('carol', 1, 9)], holders).rotate,
      true,
      'reinstall',
    );
    const rotated = planSenderKey([dev('bob', 1)], holders);
    assert.deepEqual(rotated.needKey, [dev('bob', 1)], 'everyone gets the new key');
  });
});

describe('KV-backed sender key store (memory backend)', () => {
  runSenderKeyStoreConformance(
    'device store',
    () => createDeviceStore(new MemoryBackend()).senderKeys,
  );
});
