/**
 * Sender-side device-list validation: every one of the five steps, and each
 * attack a hostile server could try against it, as its own test.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { KeyPair } from '../../../src/protocol/curve.js';
import {
  decodeSignedKeyIndexList,
  encodeSignedKeyIndexList,
} from '../../../src/protocol/adv/adv-messages.js';
import {
  createSignedKeyIndexList,
  DEVICE_LIST_MAX_AGE_MS,
  validateDeviceList,
  type ServedDevice,
} from '../../../src/protocol/adv/device-list.js';
import { AdvError } from '../../../src/protocol/adv/errors.js';
import { DAY, keyPair, linkCompanion, makeContext, T0, type TestContext } from './adv-helpers.js';

const RAW_ID = 0x1234abcd;

interface Fixture {
  ctx: TestContext;
  account: KeyPair;
  companions: KeyPair[];
  identities: Uint8Array[];
  devices: ServedDevice[];
}

/** An account with companions at key indexes 1, 2, 3 as devices 2, 3, 4. */
async function fixture(): Promise<Fixture> {
  const ctx = makeContext('list');
  const account = await keyPair('account');
  const companions = [await keyPair('c1'), await keyPair('c2'), await keyPair('c3')];
  const identities: Uint8Array[] = [];
  for (const [i, companion] of companions.entries()) {
    identities.push(
      await linkCompanion(ctx, account, companion, { keyIndex: i + 1, rawId: RAW_ID }),
    );
  }
  const devices: ServedDevice[] = [
    { deviceId: 1, identityKey: account.publicKey },
    ...companions.map((c, i) => ({
      deviceId: i + 2,
      identityKey: c.publicKey,
      signedIdentity: identities[i],
    })),
  ];
  return { ctx, account, companions, identities, devices };
}

function list(
  f: Fixture,
  over: Partial<{
    timestamp: number;
    currentIndex: number;
    validIndexes: number[];
    rawId: number;
    signer: KeyPair;
  }> = {},
): Promise<Uint8Array> {
  return createSignedKeyIndexList(f.ctx, {
    accountKeyPair: over.signer ?? f.account,
    rawId: over.rawId ?? RAW_ID,
    timestamp: over.timestamp ?? T0,
    currentIndex: over.currentIndex ?? 3,
    validIndexes: over.validIndexes ?? [1, 2, 3],
  });
}

async function rejectsWith(promise: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(AdvError.is(err), `expected AdvError, got ${String(err)}`);
    assert.equal(err.code, code);
    return true;
  });
}

describe('ADV device-list validation', () => {
  it('accepts the primary and every properly linked companion', async () => {
    const f = await fixture();
    const result = await validateDeviceList(f.ctx, {
      trustedAccountKey: f.account.publicKey,
      signedList: await list(f),
      devices: f.devices,
    });
    assert.deepEqual(result, {
      accepted: [1, 2, 3, 4],
      rejected: [],
      listTimestamp: T0,
      rawId: RAW_ID,
      expired: false,
    });
  });

  it('step 2: refuses a list signed by a key that is not the trusted one', async () => {
    const f = await fixture();
    const mallory = await keyPair('mallory');
    await rejectsWith(
      validateDeviceList(f.ctx, {
        trustedAccountKey: f.account.publicKey,
        signedList: await list(f, { signer: mallory }),
        devices: f.devices,
      }),
      'account-key-mismatch',
    );
  });

  it('step 2: refuses a list claiming the trusted key but signed by another (signature-mismatch)', async () => {
    const f = await fixture();
    const mallory = await keyPair('mallory');
    const forged = decodeSignedKeyIndexList(await list(f, { signer: mallory }));
    const relabelled = encodeSignedKeyIndexList({
      ...forged,
      accountSignatureKey: f.account.publicKey.raw,
    });
    await rejectsWith(
      validateDeviceList(f.ctx, {
        trustedAccountKey: f.account.publicKey,
        signedList: relabelled,
        devices: f.devices,
      }),
      'signature-mismatch',
    );
  });

  it('step 2: refuses a replayed older list (device-list-rollback)', async () => {
    const f = await fixture();
    // The old list still held index 3; the new one (T0 + 1 day) removed it.
    const old = await list(f, { timestamp: T0 });
    await rejectsWith(
      validateDeviceList(f.ctx, {
        trustedAccountKey: f.account.publicKey,
        signedList: old,
        devices: f.devices,
        lastSeenListTimestamp: T0 + DAY,
      }),
      'device-list-rollback',
    );
    // The same list fetched again is not a rollback.
    const again = await validateDeviceList(f.ctx, {
      trustedAccountKey: f.account.publicKey,
      signedList: old,
      devices: f.devices,
      lastSeenListTimestamp: T0,
    });
    assert.deepEqual(again.accepted, [1, 2, 3, 4]);
  });

  it('step 3: drops a removed index and keeps one newer than currentIndex', async () => {
    const f = await fixture();
    // Signed when indexes 1..2 existed and 2 was then removed; index 3 was
    // linked after the list was signed.
    const result = await validateDeviceList(f.ctx, {
      trustedAccountKey: f.account.publicKey,
      signedList: await list(f, { currentIndex: 2, validIndexes: [1] }),
      devices: f.devices,
    });
    assert.deepEqual(result.accepted, [1, 2, 4]);
    assert.deepEqual(result.rejected, [{ deviceId: 3, reason: 'index-not-valid' }]);
  });

  it('step 4: rejects a companion whose signature does not verify', async () => {
    const f = await fixture();
    const identity = new Uint8Array(f.identities[0] ?? []);
    identity[identity.length - 5] = (identity[identity.length - 5] ?? 0) ^ 0x01;
    const devices = f.devices.map((d) =>
      d.deviceId === 2 ? { ...d, signedIdentity: identity } : d,
    );
    const result = await validateDeviceList(f.ctx, {
      trustedAccountKey: f.account.publicKey,
      signedList: await list(f),
      devices,
    });
    assert.deepEqual(result.accepted, [1, 3, 4]);
    assert.deepEqual(result.rejected, [{ deviceId: 2, reason: 'signature-mismatch' }]);
  });

  it('step 4: rejects a valid identity served under another device key (key substitution)', async () => {
    const f = await fixture();
    const mallory = await keyPair('mallory');
    const devices = f.devices.map((d) =>
      d.deviceId === 3 ? { ...d, identityKey: mallory.publicKey } : d,
    );
    const result = await validateDeviceList(f.ctx, {
      trustedAccountKey: f.account.publicKey,
      signedList: await list(f),
      devices,
    });
    assert.deepEqual(result.rejected, [{ deviceId: 3, reason: 'signature-mismatch' }]);
  });

  it('step 4: rejects a companion served without a signed identity', async () => {
    const f = await fixture();
    const devices = f.devices.map((d) =>
      d.deviceId === 4 ? { deviceId: 4, identityKey: d.identityKey } : d,
    );
    const result = await validateDeviceList(f.ctx, {
      trustedAccountKey: f.account.publicKey,
      signedList: await list(f),
      devices,
    });
    assert.deepEqual(result.rejected, [{ deviceId: 4, reason: 'missing-identity' }]);
  });

  it('step 4: rejects a companion from another account-key epoch (raw-id-mismatch)', async () => {
    const f = await fixture();
    const late = await keyPair('late');
    const identity = await linkCompanion(f.ctx, f.account, late, {
      keyIndex: 2,
      rawId: RAW_ID + 1,
    });
    const devices = [
      ...f.devices.slice(0, 2),
      { deviceId: 5, identityKey: late.publicKey, signedIdentity: identity },
    ];
    const result = await validateDeviceList(f.ctx, {
      trustedAccountKey: f.account.publicKey,
      signedList: await list(f),
      devices,
    });
    assert.deepEqual(result.accepted, [1, 2]);
    assert.deepEqual(result.rejected, [{ deviceId: 5, reason: 'raw-id-mismatch' }]);
  });

  it('step 4: rejects a companion vouched for by another account', async () => {
    const f = await fixture();
    const mallory = await keyPair('mallory');
    const stray = await keyPair('stray');
    const identity = await linkCompanion(f.ctx, mallory, stray, { keyIndex: 2, rawId: RAW_ID });
    const devices = [
      f.devices[0],
      { deviceId: 9, identityKey: stray.publicKey, signedIdentity: identity },
    ].filter((d): d is ServedDevice => d !== undefined);
    const result = await validateDeviceList(f.ctx, {
      trustedAccountKey: f.account.publicKey,
      signedList: await list(f),
      devices,
    });
    assert.deepEqual(result.rejected, [{ deviceId: 9, reason: 'account-key-mismatch' }]);
  });

  it('step 4: rejects unparseable identity bytes as invalid-identity', async () => {
    const f = await fixture();
    const devices = f.devices.map((d) =>
      d.deviceId === 2 ? { ...d, signedIdentity: Uint8Array.of(0xff, 0xff) } : d,
    );
    const result = await validateDeviceList(f.ctx, {
      trustedAccountKey: f.account.publicKey,
      signedList: await list(f),
      devices,
    });
    assert.deepEqual(result.rejected, [{ deviceId: 2, reason: 'invalid-identity' }]);
  });

  it('step 5: a list older than 35 days accepts only the primary', async () => {
    const f = await fixture();
    const signedList = await list(f);
    f.ctx.setNow(T0 * 1000 + DEVICE_LIST_MAX_AGE_MS);
    const fresh = await validateDeviceList(f.ctx, {
      trustedAccountKey: f.account.publicKey,
      signedList,
      devices: f.devices,
    });
    assert.equal(fresh.expired, false, 'exactly 35 days old is still valid');
    f.ctx.setNow(T0 * 1000 + DEVICE_LIST_MAX_AGE_MS + 1000);
    const result = await validateDeviceList(f.ctx, {
      trustedAccountKey: f.account.publicKey,
      signedList,
      devices: f.devices,
    });
    assert.equal(result.expired, true);
    assert.deepEqual(result.accepted, [1]);
    assert.deepEqual(
      result.rejected.map((r) => r.reason),
      ['list-expired', 'list-expired', 'list-expired'],
    );
  });

  it('refuses a primary whose served key is not the trusted one (account-key-changed)', async () => {
    const f = await fixture();
    const reinstalled = await keyPair('reinstalled');
    const devices = f.devices.map((d) =>
      d.deviceId === 1 ? { ...d, identityKey: reinstalled.publicKey } : d,
    );
    await rejectsWith(
      validateDeviceList(f.ctx, {
        trustedAccountKey: f.account.publicKey,
        signedList: await list(f, { signer: reinstalled }),
        devices,
      }),
      'account-key-changed',
    );
  });

  it('rejects duplicate device ids, bad device ids and duplicate key indexes', async () => {
    const f = await fixture();
    const [c1] = f.companions;
    assert.ok(c1 !== undefined);
    const devices: ServedDevice[] = [
      ...f.devices,
      // Companion 1's identity again under a new device id: a copy.
      { deviceId: 7, identityKey: c1.publicKey, signedIdentity: f.identities[0] },
      { deviceId: 4, identityKey: c1.publicKey, signedIdentity: f.identities[0] },
      { deviceId: 0, identityKey: c1.publicKey, signedIdentity: f.identities[0] },
    ];
    const result = await validateDeviceList(f.ctx, {
      trustedAccountKey: f.account.publicKey,
      signedList: await list(f),
      devices,
    });
    assert.deepEqual(result.accepted, [1, 3]);
    assert.deepEqual(
      [...result.rejected].sort((a, b) => a.deviceId - b.deviceId),
      [
        { deviceId: 0, reason: 'invalid-device-id' },
        { deviceId: 2, reason: 'duplicate-key-index' },
        { deviceId: 4, reason: 'duplicate-device' },
        { deviceId: 4, reason: 'duplicate-device' },
        { deviceId: 7, reason: 'duplicate-key-index' },
      ],
    );
  });

  it('refuses malformed list bytes with invalid-message', async () => {
    const f = await fixture();
    await rejectsWith(
      validateDeviceList(f.ctx, {
        trustedAccountKey: f.account.publicKey,
        signedList: Uint8Array.of(0x0a, 0x05, 0x01),
        devices: f.devices,
      }),
      'invalid-message',
    );
  });

  it('writes validIndexes sorted and deduplicated', async () => {
    const f = await fixture();
    const a = await list(f, { validIndexes: [3, 1, 2, 1] });
    const b = await list(f, { validIndexes: [1, 2, 3] });
    assert.deepEqual(decodeSignedKeyIndexList(a).details, decodeSignedKeyIndexList(b).details);
  });
});
