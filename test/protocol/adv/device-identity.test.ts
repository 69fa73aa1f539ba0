/**
 * Companion identities: the happy-path link (primary signs, companion
 * accepts and countersigns, a contact verifies) and every attack on it, each
 * as its own test.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { concatBytes } from '../../../src/protocol/bytes.js';
import { sign } from '../../../src/protocol/curve.js';
import {
  decodeDeviceIdentity,
  decodeSignedDeviceIdentity,
  decodeSignedDeviceIdentityHmac,
  encodeDeviceIdentity,
  encodeSignedDeviceIdentity,
  encodeSignedDeviceIdentityHmac,
} from '../../../src/protocol/adv/adv-messages.js';
import {
  acceptLinkPayload,
  createSignedDeviceIdentity,
  verifyDeviceIdentity,
  wrapWithHmac,
} from '../../../src/protocol/adv/device-identity.js';
import { AdvError } from '../../../src/protocol/adv/errors.js';
import { keyPair, linkCompanion, linkingSecret, makeContext, T0 } from './adv-helpers.js';

async function fixture() {
  const ctx = makeContext();
  const account = await keyPair('account');
  const companion = await keyPair('companion');
  const other = await keyPair('other');
  const secret = linkingSecret('link');
  const signed = await createSignedDeviceIdentity(ctx, {
    accountKeyPair: account,
    companionIdentityKey: companion.publicKey,
    keyIndex: 3,
    rawId: 0xdeadbeef,
    timestamp: T0,
  });
  const hmacBytes = await wrapWithHmac(ctx, secret, signed);
  return { ctx, account, companion, other, secret, signed, hmacBytes };
}

/** Asserts that `promise` rejects with an AdvError of `code`. */
async function rejectsWith(promise: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(AdvError.is(err), `expected AdvError, got ${String(err)}`);
    assert.equal(err.code, code);
    return true;
  });
}

describe('ADV companion identity', () => {
  it('links a companion end to end and a contact verifies it', async () => {
    const { ctx, account, companion, secret, hmacBytes } = await fixture();
    const accepted = await acceptLinkPayload(ctx, {
      linkingSecret: secret,
      companionIdentityKeyPair: companion,
      hmacBytes,
    });
    assert.ok(accepted.accountKey.equals(account.publicKey));
    assert.equal(accepted.keyIndex, 3);
    assert.equal(accepted.rawId, 0xdeadbeef);
    assert.equal(accepted.timestamp, T0);
    const verified = await verifyDeviceIdentity(ctx, accepted.signedIdentity, {
      accountKey: account.publicKey,
      deviceIdentityKey: companion.publicKey,
    });
    assert.deepEqual(verified, { keyIndex: 3, rawId: 0xdeadbeef, timestamp: T0 });
  });

  it('keeps the signed details bytes exactly as the primary made them', async () => {
    const { ctx, companion, secret, signed, hmacBytes } = await fixture();
    const accepted = await acceptLinkPayload(ctx, {
      linkingSecret: secret,
      companionIdentityKeyPair: companion,
      hmacBytes,
    });
    assert.deepEqual(
      decodeSignedDeviceIdentity(accepted.signedIdentity).details,
      decodeSignedDeviceIdentity(signed).details,
    );
  });

  it('refuses a payload whose bytes were tampered with (hmac-mismatch)', async () => {
    const { ctx, companion, secret, hmacBytes } = await fixture();
    const payload = decodeSignedDeviceIdentityHmac(hmacBytes);
    const details = new Uint8Array(payload.details);
    details[details.length - 1] = (details[details.length - 1] ?? 0) ^ 1;
    const tampered = encodeSignedDeviceIdentityHmac({ details, hmac: payload.hmac });
    await rejectsWith(
      acceptLinkPayload(ctx, {
        linkingSecret: secret,
        companionIdentityKeyPair: companion,
        hmacBytes: tampered,
      }),
      'hmac-mismatch',
    );
  });

  it('refuses a payload made with another linking secret (hmac-mismatch)', async () => {
    const { ctx, companion, signed } = await fixture();
    // A server that never saw the QR code has to guess the secret.
    const forged = await wrapWithHmac(ctx, linkingSecret('server-guess'), signed);
    await rejectsWith(
      acceptLinkPayload(ctx, {
        linkingSecret: linkingSecret('link'),
        companionIdentityKeyPair: companion,
        hmacBytes: forged,
      }),
      'hmac-mismatch',
    );
  });

  it('refuses tampered details even under a valid HMAC (signature-mismatch)', async () => {
    const { ctx, companion, secret, signed } = await fixture();
    const s = decodeSignedDeviceIdentity(signed);
    const details = encodeDeviceIdentity({ ...decodeDeviceIdentity(s.details), keyIndex: 4 });
    const altered = encodeSignedDeviceIdentity({ ...s, details });
    const hmacBytes = await wrapWithHmac(ctx, secret, altered);
    await rejectsWith(
      acceptLinkPayload(ctx, {
        linkingSecret: secret,
        companionIdentityKeyPair: companion,
        hmacBytes,
      }),
      'signature-mismatch',
    );
  });

  it('refuses an account signature made by another key (signature-mismatch)', async () => {
    const { ctx, account, companion, other, secret } = await fixture();
    const forged = await createSignedDeviceIdentity(ctx, {
      accountKeyPair: { publicKey: account.publicKey, privateKey: other.privateKey },
      companionIdentityKey: companion.publicKey,
      keyIndex: 3,
      rawId: 1,
      timestamp: T0,
    });
    const hmacBytes = await wrapWithHmac(ctx, secret, forged);
    await rejectsWith(
      acceptLinkPayload(ctx, {
        linkingSecret: secret,
        companionIdentityKeyPair: companion,
        hmacBytes,
      }),
      'signature-mismatch',
    );
  });

  it('refuses a payload the primary signed for another companion key (signature-mismatch)', async () => {
    const { ctx, account, companion, other, secret } = await fixture();
    const forOther = await createSignedDeviceIdentity(ctx, {
      accountKeyPair: account,
      companionIdentityKey: other.publicKey,
      keyIndex: 3,
      rawId: 1,
      timestamp: T0,
    });
    const hmacBytes = await wrapWithHmac(ctx, secret, forOther);
    await rejectsWith(
      acceptLinkPayload(ctx, {
        linkingSecret: secret,
        companionIdentityKeyPair: companion,
        hmacBytes,
      }),
      'signature-mismatch',
    );
  });

  it('contact: refuses an identity vouched for by another account (account-key-mismatch)', async () => {
    const { ctx, companion, other } = await fixture();
    const foreign = await linkCompanion(ctx, other, companion, { keyIndex: 1, rawId: 7 });
    const account = await keyPair('account');
    await rejectsWith(
      verifyDeviceIdentity(ctx, foreign, {
        accountKey: account.publicKey,
        deviceIdentityKey: companion.publicKey,
      }),
      'account-key-mismatch',
    );
  });

  it('contact: refuses an account signature by another key under the trusted key (signature-mismatch)', async () => {
    const { ctx, account, companion, other } = await fixture();
    const foreign = decodeSignedDeviceIdentity(
      await linkCompanion(ctx, other, companion, { keyIndex: 1, rawId: 7 }),
    );
    // Relabel the foreign identity as if the trusted account had signed it.
    const relabelled = encodeSignedDeviceIdentity({
      ...foreign,
      accountSignatureKey: account.publicKey.raw,
    });
    await rejectsWith(
      verifyDeviceIdentity(ctx, relabelled, {
        accountKey: account.publicKey,
        deviceIdentityKey: companion.publicKey,
      }),
      'signature-mismatch',
    );
  });

  it('contact: refuses a device signature made by another key (signature-mismatch)', async () => {
    const { ctx, account, companion, other } = await fixture();
    const signed = decodeSignedDeviceIdentity(
      await linkCompanion(ctx, account, companion, { keyIndex: 2, rawId: 9 }),
    );
    const message = concatBytes(
      Uint8Array.of(6, 1),
      signed.details,
      companion.publicKey.raw,
      account.publicKey.raw,
    );
    const deviceSignature = await sign(ctx.crypto, other.privateKey, message, ctx.random);
    const forged = encodeSignedDeviceIdentity({ ...signed, deviceSignature });
    await rejectsWith(
      verifyDeviceIdentity(ctx, forged, {
        accountKey: account.publicKey,
        deviceIdentityKey: companion.publicKey,
      }),
      'signature-mismatch',
    );
  });

  it('contact: refuses a valid identity served with another device key (key substitution)', async () => {
    const { ctx, account, companion, other } = await fixture();
    const signed = await linkCompanion(ctx, account, companion, { keyIndex: 2, rawId: 9 });
    await rejectsWith(
      verifyDeviceIdentity(ctx, signed, {
        accountKey: account.publicKey,
        deviceIdentityKey: other.publicKey,
      }),
      'signature-mismatch',
    );
  });

  it('contact: refuses an identity without a device signature (invalid-message)', async () => {
    const { ctx, account, companion, signed } = await fixture();
    await rejectsWith(
      verifyDeviceIdentity(ctx, signed, {
        accountKey: account.publicKey,
        deviceIdentityKey: companion.publicKey,
      }),
      'invalid-message',
    );
  });

  it('refuses key index 0 on both sides', async () => {
    const { ctx, account, companion, secret } = await fixture();
    await rejectsWith(
      createSignedDeviceIdentity(ctx, {
        accountKeyPair: account,
        companionIdentityKey: companion.publicKey,
        keyIndex: 0,
        rawId: 1,
        timestamp: T0,
      }),
      'invalid-argument',
    );
    // A hostile primary build signing index 0 by hand.
    const details = encodeDeviceIdentity({ rawId: 1, timestamp: T0, keyIndex: 0 });
    const accountSignature = await sign(
      ctx.crypto,
      account.privateKey,
      concatBytes(Uint8Array.of(6, 0), details, companion.publicKey.raw),
      ctx.random,
    );
    const signed = encodeSignedDeviceIdentity({
      details,
      accountSignatureKey: account.publicKey.raw,
      accountSignature,
      deviceSignature: undefined,
    });
    const hmacBytes = await wrapWithHmac(ctx, secret, signed);
    await rejectsWith(
      acceptLinkPayload(ctx, {
        linkingSecret: secret,
        companionIdentityKeyPair: companion,
        hmacBytes,
      }),
      'invalid-message',
    );
  });

  it('refuses a HOSTED device type in the signed details', async () => {
    // field 5 (deviceType) = HOSTED appended to valid details.
    const details = concatBytes(
      encodeDeviceIdentity({ rawId: 1, timestamp: T0, keyIndex: 1 }),
      Uint8Array.of(0x28, 0x01),
    );
    assert.throws(
      () => decodeDeviceIdentity(details),
      (e: unknown) => AdvError.is(e, 'invalid-message'),
    );
  });

  it('refuses a linking secret of the wrong length (invalid-argument)', async () => {
    const { ctx, signed } = await fixture();
    await rejectsWith(wrapWithHmac(ctx, new Uint8Array(16), signed), 'invalid-argument');
  });

  it('error messages carry no key material', async () => {
    const { ctx, companion, hmacBytes } = await fixture();
    try {
      await acceptLinkPayload(ctx, {
        linkingSecret: linkingSecret('wrong'),
        companionIdentityKeyPair: companion,
        hmacBytes,
      });
      assert.fail('expected a failure');
    } catch (err) {
      assert.ok(AdvError.is(err, 'hmac-mismatch'));
      assert.doesNotMatch(err.message, /[0-9a-f]{16}/i);
    }
  });
});
