/**
 * Linking pieces without a server: the persisted account record with its
 * multi-device fields, the primary's link state (monotonic list timestamps,
 * `currentIndex`), the PIN lockout gate with an injected clock, and the
 * one-line CLI explanations (which must never echo the link code).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { nodeCrypto } from '../../src/crypto/node.js';
import type { ProtocolContext } from '../../src/protocol/context.js';
import { generateSigningKeyPair } from '../../src/protocol/curve.js';
import {
  AdvError,
  decodeLinkCode,
  encodeLinkCode,
  verifySignedKeyIndexList,
} from '../../src/protocol/adv/index.js';
import {
  decodeLocalAccount,
  encodeLocalAccount,
  isPrimaryAccount,
  type LocalAccount,
} from '../../src/client/core/store/records.js';
import { createDeviceStore } from '../../src/client/core/store/device-store.js';
import { MemoryBackend } from '../../src/client/core/store/memory-backend.js';
import {
  initialLinkState,
  nextListTimestamp,
  signKeyIndexList,
} from '../../src/client/core/linking/link-state.js';
import {
  LocalAuthGate,
  MAX_PIN_FAILURES,
  PIN_FAILURES_SETTING,
  PIN_LOCK_MS,
} from '../../src/client/core/linking/local-auth.js';
import { LinkingError } from '../../src/client/core/linking/errors.js';
import { assertNotLoggedOut, loggedOutAccount } from '../../src/client/core/device-admin.js';
import { explainLinkingFailure } from '../../src/cli/commands/device-errors.js';
import { CliError } from '../../src/cli/cli-error.js';

class Clock {
  constructor(public time = 1_750_000_000_000) {}
  now(): number {
    return this.time;
  }
}

function context(clock: Clock): ProtocolContext {
  return { crypto: nodeCrypto, random: (n) => nodeCrypto.randomBytes(n), clock };
}

const BASE: LocalAccount = {
  account: 'alice',
  deviceId: 1,
  registrationId: 77,
  serverUrl: 'http://127.0.0.1:1',
  createdAt: 1_700_000_000_000,
  nextPreKeyId: 101,
  signedPreKeyId: 1,
};

describe('account record with multi-device fields', () => {
  it('round-trips a primary with link state, and stays identical for old profiles', () => {
    assert.deepEqual(decodeLocalAccount(encodeLocalAccount(BASE)), BASE);
    const primary: LocalAccount = {
      ...BASE,
      link: {
        rawId: 0xdeadbeef,
        nextKeyIndex: 4,
        signedKeyIndexList: Uint8Array.of(1, 2, 3),
        listTimestamp: 1_750_000_000,
        companions: { 2: 1, 5: 3 },
        approvedAt: { 2: 1_750_000_000_000, 5: 1_750_000_100_000 },
      },
    };
    assert.deepEqual(decodeLocalAccount(encodeLocalAccount(primary)), primary);
    assert.equal(isPrimaryAccount(primary), true);
  });

  it('round-trips a companion and a logged-out mark', () => {
    const companion: LocalAccount = {
      ...BASE,
      deviceId: 3,
      keyIndex: 2,
      signedDeviceIdentity: Uint8Array.of(9, 9),
    };
    assert.deepEqual(decodeLocalAccount(encodeLocalAccount(companion)), companion);
    assert.equal(isPrimaryAccount(companion), false);
    const out = loggedOutAccount(companion, 'removed', 123);
    const decoded = decodeLocalAccount(encodeLocalAccount(out));
    assert.deepEqual(decoded.loggedOut, { reason: 'removed', at: 123 });
    // The mark drops the device identity: nothing left to present to peers.
    assert.equal(decoded.signedDeviceIdentity, undefined);
    assert.throws(
      () => assertNotLoggedOut(decoded),
      (e) => LinkingError.is(e, 'logged-out') && /\(removed\)/.test(e.message),
    );
    assert.equal(loggedOutAccount(companion, '', 1).loggedOut?.reason, 'removed');
  });

  it('refuses damaged bytes with a typed error', () => {
    assert.throws(
      () => decodeLocalAccount(Uint8Array.of(0xff, 0xff, 0xff)),
      (e: unknown) => e instanceof Error && 'code' in e && e.code === 'invalid-record',
    );
  });
});

describe('primary link state', () => {
  it('signs lists with strictly increasing timestamps, even within one second or after a clock step back', async () => {
    const clock = new Clock();
    const ctx = context(clock);
    const keys = await generateSigningKeyPair(nodeCrypto, ctx.random);
    const state = await initialLinkState(ctx, keys);
    assert.equal(state.listTimestamp, Math.floor(clock.time / 1000));
    const first = await verifySignedKeyIndexList(ctx, state.signedKeyIndexList, keys.publicKey);
    assert.deepEqual([first.currentIndex, first.validIndexes], [0, []]);
    const again = await signKeyIndexList(ctx, keys, state, []);
    assert.equal(again.listTimestamp, state.listTimestamp + 1);
    clock.time -= 3_600_000;
    const stepped = await signKeyIndexList(ctx, keys, { ...state, ...again }, []);
    assert.equal(stepped.listTimestamp, again.listTimestamp + 1);
    assert.equal(nextListTimestamp(undefined, 5_999), 5);
  });

  it('uses the highest index ever handed out as currentIndex', async () => {
    const clock = new Clock();
    const ctx = context(clock);
    const keys = await generateSigningKeyPair(nodeCrypto, ctx.random);
    const state = { ...(await initialLinkState(ctx, keys)), nextKeyIndex: 6 };
    const list = await signKeyIndexList(ctx, keys, state, [3, 1]);
    const decoded = await verifySignedKeyIndexList(ctx, list.signedKeyIndexList, keys.publicKey);
    assert.equal(decoded.currentIndex, 5);
    assert.deepEqual(decoded.validIndexes, [1, 3]);
    assert.equal(decoded.rawId, state.rawId);
  });
});

describe('PIN lockout gate', () => {
  const setup = () => {
    const clock = new Clock();
    const store = createDeviceStore(new MemoryBackend());
    let checks = 0;
    const gate = (): LocalAuthGate =>
      new LocalAuthGate({
        settings: store.settings,
        clock,
        verify: async (pin) => {
          checks += 1;
          return pin === '2468';
        },
      });
    return { clock, store, gate, checks: () => checks };
  };

  it('counts wrong PINs across gate instances and locks after 5', async () => {
    const { clock, gate, checks } = setup();
    for (let i = 1; i < MAX_PIN_FAILURES; i++) {
      await assert.rejects(
        gate().authorize('0000'),
        (e) => LinkingError.is(e, 'wrong-pin') && e.attemptsLeft === MAX_PIN_FAILURES - i,
      );
    }
    await assert.rejects(
      gate().authorize('0000'),
      (e) => LinkingError.is(e, 'pin-locked') && e.lockedUntil === clock.time + PIN_LOCK_MS,
    );
    const before = checks();
    // While locked the PIN is not even checked: a guesser learns nothing.
    await assert.rejects(gate().authorize('2468'), (e) => LinkingError.is(e, 'pin-locked'));
    assert.equal(checks(), before);
    clock.time += PIN_LOCK_MS - 1;
    await assert.rejects(gate().authorize('2468'), (e) => LinkingError.is(e, 'pin-locked'));
    clock.time += 1;
    await gate().authorize('2468');
    assert.deepEqual(await gate().state(), { failures: 0, lockedUntil: 0 });
  });

  it('a success clears the count; after a lock passes the count starts over', async () => {
    const { clock, gate } = setup();
    await assert.rejects(gate().authorize('1'), (e) => LinkingError.is(e, 'wrong-pin'));
    await gate().authorize('2468');
    assert.equal((await gate().state()).failures, 0);
    for (let i = 0; i < MAX_PIN_FAILURES; i++) {
      await assert.rejects(gate().authorize('1'));
    }
    clock.time += PIN_LOCK_MS;
    await assert.rejects(
      gate().authorize('1'),
      (e) => LinkingError.is(e, 'wrong-pin') && e.attemptsLeft === MAX_PIN_FAILURES - 1,
    );
  });

  it('a damaged failure record leaves one attempt, not a fresh five', async () => {
    const { store, gate } = setup();
    await store.settings.put(PIN_FAILURES_SETTING, Uint8Array.of(1, 2, 3));
    await assert.rejects(gate().authorize('0000'), (e) => LinkingError.is(e, 'pin-locked'));
  });
});

describe('CLI explanations of linking failures', () => {
  it('says what happened in one line without echoing the link code', async () => {
    const ctx = context(new Clock());
    const keys = await generateSigningKeyPair(nodeCrypto, ctx.random);
    const text = encodeLinkCode({
      ref: 'abc',
      identityKey: keys.publicKey,
      linkingSecret: new Uint8Array(32).fill(7),
      platform: 'cli',
    });
    let decodeError: unknown;
    try {
      decodeLinkCode(`${text}x,`);
    } catch (error) {
      decodeError = error;
    }
    assert.ok(AdvError.is(decodeError, 'invalid-link-code'));
    const explained = explainLinkingFailure(decodeError);
    assert.ok(explained instanceof CliError);
    assert.ok(!explained.message.includes(text.slice(20)));
    const secretPart = text.split(',')[3] ?? '';
    assert.ok(!explained.message.includes(secretPart));

    const hmac = explainLinkingFailure(new AdvError('hmac-mismatch', 'x'));
    assert.match(String((hmac as Error).message), /hmac-mismatch/);
    const locked = explainLinkingFailure(
      new LinkingError('pin-locked', 'x', { lockedUntil: 1_000 + 299_000 }),
      1_000,
    );
    assert.match(String((locked as Error).message), /locked for 4m 59s/);
    const other = new Error('boom');
    assert.equal(explainLinkingFailure(other), other);
  });
});
