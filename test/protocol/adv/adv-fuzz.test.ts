/**
 * Fuzzing every ADV decoder and verifier with random and mutated bytes: the
 * only acceptable failure is an `AdvError`; and any single-byte change to a
 * valid linking payload, signed identity or signed list is refused.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { checkProperty } from '../../property.js';
import {
  decodeDeviceIdentity,
  decodeKeyIndexList,
  decodeSignedDeviceIdentity,
  decodeSignedDeviceIdentityHmac,
  decodeSignedKeyIndexList,
} from '../../../src/protocol/adv/adv-messages.js';
import {
  acceptLinkPayload,
  createSignedDeviceIdentity,
  verifyDeviceIdentity,
  wrapWithHmac,
} from '../../../src/protocol/adv/device-identity.js';
import {
  createSignedKeyIndexList,
  validateDeviceList,
} from '../../../src/protocol/adv/device-list.js';
import { AdvError } from '../../../src/protocol/adv/errors.js';
import { keyPair, linkCompanion, linkingSecret, makeContext, T0 } from './adv-helpers.js';

const RAW_ID = 77;

async function fixture() {
  const ctx = makeContext('fuzz');
  const account = await keyPair('fuzz-account');
  const companion = await keyPair('fuzz-companion');
  const secret = linkingSecret('fuzz');
  const unsigned = await createSignedDeviceIdentity(ctx, {
    accountKeyPair: account,
    companionIdentityKey: companion.publicKey,
    keyIndex: 1,
    rawId: RAW_ID,
    timestamp: T0,
  });
  const hmacBytes = await wrapWithHmac(ctx, secret, unsigned);
  const identity = await linkCompanion(ctx, account, companion, { keyIndex: 1, rawId: RAW_ID });
  const list = await createSignedKeyIndexList(ctx, {
    accountKeyPair: account,
    rawId: RAW_ID,
    timestamp: T0,
    currentIndex: 1,
    validIndexes: [1],
  });
  return { ctx, account, companion, secret, hmacBytes, identity, list };
}

/** A copy of `bytes` with byte `at` set to a different value. */
function changeByte(bytes: Uint8Array, at: number, xor: number): Uint8Array {
  const out = new Uint8Array(bytes);
  out[at] = (out[at] ?? 0) ^ xor;
  return out;
}

/** Asserts `err` is an AdvError (any code). */
function typed(err: unknown): void {
  assert.ok(AdvError.is(err), `expected AdvError, got ${String(err)}`);
}

const bytesArb = fc.uint8Array({ maxLength: 300 });

describe('ADV fuzzing', () => {
  it('every decoder fails only with AdvError(invalid-message) on random bytes', () => {
    const decoders = [
      decodeDeviceIdentity,
      decodeSignedDeviceIdentity,
      decodeSignedDeviceIdentityHmac,
      decodeKeyIndexList,
      decodeSignedKeyIndexList,
    ];
    checkProperty(
      fc.property(bytesArb, (bytes) => {
        for (const decode of decoders) {
          try {
            decode(bytes);
          } catch (err) {
            assert.ok(AdvError.is(err, 'invalid-message'), String(err));
          }
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('verifiers fail only with AdvError on random bytes', async () => {
    const f = await fixture();
    await checkProperty(
      fc.asyncProperty(bytesArb, async (bytes) => {
        await acceptLinkPayload(f.ctx, {
          linkingSecret: f.secret,
          companionIdentityKeyPair: f.companion,
          hmacBytes: bytes,
        }).then(() => assert.fail('random bytes accepted'), typed);
        await verifyDeviceIdentity(f.ctx, bytes, {
          accountKey: f.account.publicKey,
          deviceIdentityKey: f.companion.publicKey,
        }).then(() => assert.fail('random bytes accepted'), typed);
        await validateDeviceList(f.ctx, {
          trustedAccountKey: f.account.publicKey,
          signedList: bytes,
          devices: [{ deviceId: 1, identityKey: f.account.publicKey }],
        }).then(() => assert.fail('random bytes accepted'), typed);
        // Random identity bytes inside a valid list: rejected, never thrown.
        const result = await validateDeviceList(f.ctx, {
          trustedAccountKey: f.account.publicKey,
          signedList: f.list,
          devices: [{ deviceId: 2, identityKey: f.companion.publicKey, signedIdentity: bytes }],
        });
        assert.deepEqual(result.accepted, []);
      }),
      { numRuns: 500 },
    );
  });

  it('valid inputs with random insertions, deletions and overwrites fail only with AdvError', async () => {
    const f = await fixture();
    const edit = fc.array(
      fc.tuple(
        fc.constantFrom('insert', 'delete', 'set'),
        fc.nat(),
        fc.integer({ min: 0, max: 255 }),
      ),
      { minLength: 1, maxLength: 4 },
    );
    const apply = (input: Uint8Array, edits: readonly [string, number, number][]): Uint8Array => {
      const bytes = Array.from(input);
      for (const [kind, pos, value] of edits) {
        const at = bytes.length === 0 ? 0 : pos % bytes.length;
        if (kind === 'insert') bytes.splice(at, 0, value);
        else if (kind === 'delete') bytes.splice(at, 1);
        else bytes[at] = value;
      }
      return Uint8Array.from(bytes);
    };
    await checkProperty(
      fc.asyncProperty(edit, async (edits) => {
        const payload = apply(f.hmacBytes, edits);
        const identity = apply(f.identity, edits);
        const list = apply(f.list, edits);
        await acceptLinkPayload(f.ctx, {
          linkingSecret: f.secret,
          companionIdentityKeyPair: f.companion,
          hmacBytes: payload,
        }).then(() => assert.deepEqual(payload, f.hmacBytes), typed);
        await verifyDeviceIdentity(f.ctx, identity, {
          accountKey: f.account.publicKey,
          deviceIdentityKey: f.companion.publicKey,
        }).then(() => assert.deepEqual(identity, f.identity), typed);
        await validateDeviceList(f.ctx, {
          trustedAccountKey: f.account.publicKey,
          signedList: list,
          devices: [{ deviceId: 1, identityKey: f.account.publicKey }],
        }).then(() => assert.deepEqual(list, f.list), typed);
      }),
      { numRuns: 300 },
    );
  });

  it('every single-byte change to a linking payload is refused', async () => {
    const f = await fixture();
    for (let at = 0; at < f.hmacBytes.length; at++) {
      for (const xor of [0x01, 0x80, 0xff]) {
        await acceptLinkPayload(f.ctx, {
          linkingSecret: f.secret,
          companionIdentityKeyPair: f.companion,
          hmacBytes: changeByte(f.hmacBytes, at, xor),
        }).then(() => assert.fail(`mutation at ${at} accepted`), typed);
      }
    }
  });

  it('every single-byte change to a signed identity is refused (directly and in a list)', async () => {
    const f = await fixture();
    const check = async (at: number, xor: number): Promise<void> => {
      const mutated = changeByte(f.identity, at, xor);
      await verifyDeviceIdentity(f.ctx, mutated, {
        accountKey: f.account.publicKey,
        deviceIdentityKey: f.companion.publicKey,
      }).then(() => assert.fail(`mutation at ${at} accepted`), typed);
      const result = await validateDeviceList(f.ctx, {
        trustedAccountKey: f.account.publicKey,
        signedList: f.list,
        devices: [
          { deviceId: 1, identityKey: f.account.publicKey },
          { deviceId: 2, identityKey: f.companion.publicKey, signedIdentity: mutated },
        ],
      });
      assert.deepEqual(result.accepted, [1]);
    };
    for (let at = 0; at < f.identity.length; at++) await check(at, 0x01);
    await checkProperty(
      fc.asyncProperty(
        fc.nat({ max: f.identity.length - 1 }),
        fc.integer({ min: 1, max: 255 }),
        check,
      ),
      { numRuns: 300 },
    );
  });

  it('every single-byte change to a signed list is refused', async () => {
    const f = await fixture();
    const check = async (at: number, xor: number): Promise<void> => {
      await validateDeviceList(f.ctx, {
        trustedAccountKey: f.account.publicKey,
        signedList: changeByte(f.list, at, xor),
        devices: [
          { deviceId: 1, identityKey: f.account.publicKey },
          { deviceId: 2, identityKey: f.companion.publicKey, signedIdentity: f.identity },
        ],
      }).then(() => assert.fail(`mutation at ${at} accepted`), typed);
    };
    for (let at = 0; at < f.list.length; at++) await check(at, 0x01);
    await checkProperty(
      fc.asyncProperty(fc.nat({ max: f.list.length - 1 }), fc.integer({ min: 1, max: 255 }), check),
      { numRuns: 300 },
    );
  });
});
