/**
 * The conformance suite of `LinkSessionStore` (src/server/linking/link-sessions.ts),
 * run by every backend. A backend provides "two nodes": two store
 * instances over the same storage (two pools for PostgreSQL; the memory
 * store, being one node's, gives the same instance twice), so everything
 * that must hold across nodes is checked across them.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { ServiceError } from '../../src/server/errors.js';
import type { LinkSessionOptions } from '../../src/server/linking/memory-link-sessions.js';
import {
  ADMISSION_TTL_MS,
  COMPLETION_GRACE_MS,
  type LinkSessionStore,
  type LinkWaiter,
} from '../../src/server/linking/link-sessions.js';
import { ManualClock } from './helpers/server.js';

/** Two stores over one storage, and how to let it go. */
export interface LinkCluster {
  readonly a: LinkSessionStore;
  readonly b: LinkSessionStore;
  close(): Promise<void>;
}

const REF_TTL = 60_000;
const COMPLETE_TTL = 300_000;

const nodeA = (connectionId: number): LinkWaiter => ({ nodeId: 'node-a', connectionId });
const nodeB = (connectionId: number): LinkWaiter => ({ nodeId: 'node-b', connectionId });

function link(account: string, deviceId: number) {
  return {
    account,
    deviceId,
    keyIndex: deviceId - 1,
    companionIdentityKey: new Uint8Array(33).fill(5),
  };
}

async function rejectsWith(promise: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(promise, (error: unknown) => ServiceError.is(error) && error.code === code);
}

/** Registers the suite for one backend; `makeCluster` returns fresh, empty storage each call. */
export function runLinkSessionConformance(
  label: string,
  makeCluster: (options: LinkSessionOptions) => Promise<LinkCluster>,
  skip?: string,
): void {
  describe(`link sessions conformance (${label})`, { skip }, () => {
    async function withCluster(
      body: (c: LinkCluster, clock: ManualClock) => Promise<void>,
    ): Promise<void> {
      const clock = new ManualClock();
      const cluster = await makeCluster({
        clock,
        random: (n) => new Uint8Array(randomBytes(n)),
        refTtlMs: REF_TTL,
        completeTtlMs: COMPLETE_TTL,
      });
      try {
        await body(cluster, clock);
      } finally {
        await cluster.close();
      }
    }

    it('opens a random reference on one node that the other can claim', () =>
      withCluster(async ({ a, b }, clock) => {
        const opened = await a.open(nodeA(7));
        assert.match(opened.ref, /^[A-Za-z0-9_-]{22}$/);
        assert.equal(opened.expiresAt, clock.now() + REF_TTL);
        const other = await a.open(nodeA(8));
        assert.notEqual(other.ref, opened.ref);
        const claimed = await b.claim(opened.ref);
        assert.deepEqual(claimed.waiter, nodeA(7));
        assert.equal(claimed.expiresAt, opened.expiresAt);
        assert.equal(await a.isHeld(claimed), true);
        await rejectsWith(b.claim('no-such-ref'), 'unknown-link');
      }));

    it('lets exactly one of two concurrent claims of a reference win, across nodes', () =>
      withCluster(async ({ a, b }) => {
        for (let i = 0; i < 20; i++) {
          const { ref } = await a.open(nodeA(100 + i));
          const outcomes = await Promise.allSettled([a.claim(ref), b.claim(ref), b.claim(ref)]);
          const won = outcomes.filter((o) => o.status === 'fulfilled');
          assert.equal(won.length, 1, `round ${i}`);
          for (const lost of outcomes.filter((o) => o.status === 'rejected')) {
            assert.ok(ServiceError.is(lost.reason, 'unknown-link'));
          }
        }
      }));

    it('hands a released reference back, and a used one never', () =>
      withCluster(async ({ a, b }) => {
        const { ref } = await a.open(nodeA(1));
        const first = await b.claim(ref);
        await rejectsWith(a.claim(ref), 'unknown-link');
        await b.release(first);
        assert.equal(await b.isHeld(first), false);
        const second = await a.claim(ref);
        // The stale claim cannot release or hold the new one.
        await b.release(first);
        assert.equal(await a.isHeld(second), true);
        await a.approve(second, link('acct', 2));
        await rejectsWith(b.claim(ref), 'unknown-link');
        assert.equal(await a.isHeld(second), false);
      }));

    it('replaces a waiter’s reference when it asks again', () =>
      withCluster(async ({ a, b }) => {
        const old = await a.open(nodeA(1));
        // Same connection id on another node: another waiter.
        const elsewhere = await b.open(nodeB(1));
        const fresh = await a.open(nodeA(1));
        await rejectsWith(b.claim(old.ref), 'unknown-link');
        assert.deepEqual((await b.claim(fresh.ref)).waiter, nodeA(1));
        assert.deepEqual((await a.claim(elsewhere.ref)).waiter, nodeB(1));
        // A claimed reference is replaced too: the claim no longer holds it.
        const third = await a.open(nodeA(2));
        const claimed = await b.claim(third.ref);
        const renewed = await a.open(nodeA(2));
        assert.equal(await b.isHeld(claimed), false);
        assert.deepEqual((await b.claim(renewed.ref)).waiter, nodeA(2));
      }));

    it('refuses an expired reference', () =>
      withCluster(async ({ a, b }, clock) => {
        const { ref } = await a.open(nodeA(1));
        const fresh = await a.open(nodeA(2));
        clock.advance(REF_TTL - 1);
        const claimed = await b.claim(fresh.ref);
        await b.release(claimed);
        clock.advance(1);
        await rejectsWith(b.claim(ref), 'link-expired');
        // Refused once, then gone.
        await rejectsWith(b.claim(ref), 'unknown-link');
        assert.ok((await a.prune()) >= 1);
        await rejectsWith(b.claim(fresh.ref), 'unknown-link');
      }));

    it('files an approval under a token that completes once, on any node', () =>
      withCluster(async ({ a, b }, clock) => {
        const { ref } = await a.open(nodeA(1));
        const claimed = await b.claim(ref);
        const filed = await b.approve(claimed, link('acct', 2));
        assert.equal(filed.token.length, 32);
        assert.equal(filed.expiresAt, clock.now() + COMPLETE_TTL);
        await rejectsWith(a.takeApproved(randomBytes(32)), 'unknown-link');
        const taken = await Promise.allSettled([
          a.takeApproved(filed.token),
          b.takeApproved(filed.token),
        ]);
        const won = taken.filter((t) => t.status === 'fulfilled');
        assert.equal(won.length, 1);
        const approved = won[0]?.status === 'fulfilled' ? won[0].value : undefined;
        assert.deepEqual(approved, { ...link('acct', 2), expiresAt: filed.expiresAt });
        await rejectsWith(a.takeApproved(filed.token), 'unknown-link');
      }));

    it('refuses an approval not completed in time, and only once', () =>
      withCluster(async ({ a, b }, clock) => {
        const { ref } = await a.open(nodeA(1));
        const filed = await b.approve(await b.claim(ref), link('acct', 2));
        clock.advance(COMPLETE_TTL);
        await rejectsWith(a.takeApproved(filed.token), 'link-expired');
        await rejectsWith(a.takeApproved(filed.token), 'unknown-link');
      }));

    it('drops a closed connection’s reference and push, not its approval', () =>
      withCluster(async ({ a, b }) => {
        const waiting = await a.open(nodeA(1));
        await b.dropConnection(nodeA(1));
        await rejectsWith(b.claim(waiting.ref), 'unknown-link');

        const held = await a.open(nodeA(2));
        const claimed = await b.claim(held.ref);
        await a.dropConnection(nodeA(2));
        assert.equal(await b.isHeld(claimed), false);

        const approvedRef = await a.open(nodeA(3));
        const filed = await b.approve(
          await b.claim(approvedRef.ref),
          link('acct', 2),
          () => new Uint8Array([1, 2, 3]),
        );
        // Another node's connection with the same id is someone else.
        await a.dropConnection(nodeB(3));
        await a.dropConnection(nodeA(3));
        assert.deepEqual(await a.takePushes('node-a', [3]), []);
        assert.equal((await a.takeApproved(filed.token)).deviceId, 2);
      }));

    it('hands a filed push to the waiter’s node once', () =>
      withCluster(async ({ a, b }, clock) => {
        const one = await a.open(nodeA(1));
        const two = await a.open(nodeA(2));
        const other = await b.open(nodeB(1));
        const filedOne = await b.approve(await b.claim(one.ref), link('acct', 2), (token) =>
          Uint8Array.from([9, ...token]),
        );
        await b.approve(await b.claim(two.ref), link('acct', 3), () => new Uint8Array([2]));
        await b.approve(await b.claim(other.ref), link('acct', 4), () => new Uint8Array([3]));
        // The bus path files nothing for a local waiter: no push to take.
        const local = await a.open(nodeA(4));
        await a.approve(await a.claim(local.ref), link('acct', 5));

        assert.deepEqual(await a.takePushes('node-a', []), []);
        const taken = await Promise.all([
          a.takePushes('node-a', [1, 4, 99]),
          b.takePushes('node-a', [1, 4, 99]),
        ]);
        const pushes = taken.flat();
        assert.equal(pushes.length, 1);
        assert.equal(pushes[0]?.connectionId, 1);
        assert.deepEqual(pushes[0]?.push, Uint8Array.from([9, ...filedOne.token]));
        assert.equal(pushes[0]?.expiresAt, clock.now() + COMPLETE_TTL);
        assert.deepEqual(await a.takePushes('node-a', [1]), []);
        // Completing first leaves nothing to deliver; so does expiry.
        const three = await a.open(nodeA(5));
        const filedThree = await b.approve(
          await b.claim(three.ref),
          link('acct', 6),
          () => new Uint8Array([6]),
        );
        await b.takeApproved(filedThree.token);
        assert.deepEqual(await a.takePushes('node-a', [5]), []);
        clock.advance(COMPLETE_TTL);
        assert.deepEqual(await a.takePushes('node-a', [2]), []);
        assert.deepEqual(await b.takePushes('node-b', [1]), []);
      }));

    it('forgets what a restarted node’s connections waited for', () =>
      withCluster(async ({ a, b }) => {
        const waiting = await a.open(nodeA(1));
        const approvedRef = await a.open(nodeA(2));
        const kept = await a.open(nodeB(1));
        const filed = await b.approve(
          await b.claim(approvedRef.ref),
          link('acct', 2),
          () => new Uint8Array([1]),
        );
        await b.dropNode('node-a');
        await rejectsWith(b.claim(waiting.ref), 'unknown-link');
        assert.deepEqual(await a.takePushes('node-a', [2]), []);
        assert.equal((await a.takeApproved(filed.token)).deviceId, 2);
        assert.deepEqual((await b.claim(kept.ref)).waiter, nodeB(1));
      }));

    it('admits approvals up to the companion limit, across nodes', () =>
      withCluster(async ({ a, b }) => {
        const first = await a.admit('acct', [2], 3);
        const second = await b.admit('acct', [2], 3);
        await rejectsWith(a.admit('acct', [2], 3), 'too-many-devices');
        await rejectsWith(b.admit('acct', [2, 3, 4], 3), 'too-many-devices');
        // Other accounts are counted apart.
        await (await b.admit('other', [], 1)).end();
        await first.end();
        const third = await b.admit('acct', [2], 3);
        await rejectsWith(a.admit('acct', [2], 3), 'too-many-devices');
        await second.end();
        await third.end();
        await (await a.admit('acct', [2], 3)).end();
      }));

    it('lets concurrent admissions on two nodes take exactly the free slots', () =>
      withCluster(async ({ a, b }) => {
        const attempts = Array.from({ length: 8 }, (_, i) =>
          (i % 2 === 0 ? a : b).admit('acct', [2], 4),
        );
        const outcomes = await Promise.allSettled(attempts);
        assert.equal(outcomes.filter((o) => o.status === 'fulfilled').length, 3);
        for (const lost of outcomes.filter((o) => o.status === 'rejected')) {
          assert.ok(ServiceError.is(lost.reason, 'too-many-devices'));
        }
      }));

    it('counts approvals until completed, and a completion until its device exists', () =>
      withCluster(async ({ a, b }, clock) => {
        const { ref } = await a.open(nodeA(1));
        const admission = await b.admit('acct', [], 1);
        const filed = await b.approve(await b.claim(ref), link('acct', 2));
        await admission.end();
        // Approved, not completed: the slot is taken.
        await rejectsWith(a.admit('acct', [], 1), 'too-many-devices');
        await a.takeApproved(filed.token);
        // Taken, device not added yet: still taken.
        await rejectsWith(a.admit('acct', [], 1), 'too-many-devices');
        // Once the device exists it counts as itself, not twice.
        await (await a.admit('acct', [2], 2)).end();
        await rejectsWith(a.admit('acct', [2], 1), 'too-many-devices');
        // A completion that never added its device frees the slot in time.
        clock.advance(COMPLETION_GRACE_MS);
        await (await a.admit('acct', [], 1)).end();
      }));

    it('frees the slots of expired approvals and abandoned admissions', () =>
      withCluster(async ({ a, b }, clock) => {
        const { ref } = await a.open(nodeA(1));
        await b.approve(await b.claim(ref), link('acct', 2));
        await a.admit('acct', [], 2);
        await rejectsWith(b.admit('acct', [], 2), 'too-many-devices');
        clock.advance(ADMISSION_TTL_MS);
        await (await b.admit('acct', [], 2)).end();
        clock.advance(COMPLETE_TTL);
        const again = await b.admit('acct', [], 1);
        await again.end();
        await a.prune();
        assert.equal(await b.prune(), 0);
        await (await b.admit('acct', [], 1)).end();
      }));
  });
}
