/**
 * The linking QR code: round trip, and every malformed part refused with
 * `invalid-link-code`.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { checkProperty } from '../../property.js';
import { AdvError } from '../../../src/protocol/adv/errors.js';
import {
  base64UrlDecode,
  base64UrlEncode,
  decodeLinkCode,
  encodeLinkCode,
  newLinkingSecret,
} from '../../../src/protocol/adv/link-code.js';
import { keyPair, makeContext } from './adv-helpers.js';

async function sample(): Promise<string> {
  const companion = await keyPair('qr');
  return encodeLinkCode({
    ref: 'AbC_-09',
    identityKey: companion.publicKey,
    linkingSecret: newLinkingSecret(makeContext('qr')),
    platform: 'web',
  });
}

function refused(text: string): void {
  assert.throws(
    () => decodeLinkCode(text),
    (e: unknown) => AdvError.is(e, 'invalid-link-code'),
    text,
  );
}

/** Replaces part `i` (0 = version) of a link code. */
function withPart(code: string, i: number, value: string): string {
  const [prefix, rest] = code.split('#');
  const parts = (rest ?? '').split(',');
  parts[i] = value;
  return `${prefix ?? ''}#${parts.join(',')}`;
}

describe('ADV link code', () => {
  it('round-trips', async () => {
    const companion = await keyPair('qr');
    const secret = newLinkingSecret(makeContext('qr'));
    const text = encodeLinkCode({
      ref: 'AbC_-09',
      identityKey: companion.publicKey,
      linkingSecret: secret,
      platform: 'web',
    });
    assert.match(text, /^quintet:\/\/link#1,AbC_-09,[A-Za-z0-9_-]{44},[A-Za-z0-9_-]{43},web$/);
    const decoded = decodeLinkCode(text);
    assert.equal(decoded.ref, 'AbC_-09');
    assert.ok(decoded.identityKey.equals(companion.publicKey));
    assert.deepEqual(decoded.linkingSecret, secret);
    assert.equal(decoded.platform, 'web');
  });

  it('refuses a wrong prefix, version or part count', async () => {
    const code = await sample();
    refused(code.replace('quintet://', 'whatsapp://'));
    refused(withPart(code, 0, '2'));
    refused(withPart(code, 0, ''));
    refused(`${code},extra`);
    refused(code.slice(0, code.lastIndexOf(',')));
    refused('');
  });

  it('refuses a bad reference or platform tag', async () => {
    const code = await sample();
    refused(withPart(code, 1, ''));
    refused(withPart(code, 1, 'a'.repeat(65)));
    refused(withPart(code, 1, 'has space'));
    refused(withPart(code, 1, 'a/b'));
    refused(withPart(code, 4, 'Web'));
    refused(withPart(code, 4, ''));
    refused(withPart(code, 4, 'x'.repeat(33)));
  });

  it('refuses bad base64url, wrong lengths and an invalid key', async () => {
    const code = await sample();
    const [, , identity = '', secret = ''] = code.split('#')[1]?.split(',') ?? [];
    refused(withPart(code, 2, identity.slice(1)));
    refused(withPart(code, 2, `${identity.slice(0, -1)}+`));
    refused(withPart(code, 2, `${identity}=`));
    refused(withPart(code, 3, secret.slice(0, -1)));
    refused(withPart(code, 3, `${secret}A`));
    // Non-canonical: the unused low bits of the last character are set.
    // 32 bytes take 43 characters with 2 unused low bits; setting one makes
    // a second spelling of the same bytes, which the strict decoder refuses.
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const last = alphabet.indexOf(secret.slice(-1));
    refused(withPart(code, 3, secret.slice(0, -1) + (alphabet[last | 1] ?? '')));
    // Right length, wrong key type byte (0x06 instead of 0x05).
    const wrongType = Uint8Array.from(base64UrlDecode(identity) ?? []);
    wrongType[0] = 0x06;
    refused(withPart(code, 2, base64UrlEncode(wrongType)));
    // A small-order point (u = 0).
    const zero = new Uint8Array(33);
    zero[0] = 0x05;
    refused(withPart(code, 2, base64UrlEncode(zero)));
    refused(code + 'x'.repeat(300));
  });

  it('refuses to encode a bad reference, platform or secret', async () => {
    const companion = await keyPair('qr');
    const ok = {
      ref: 'r',
      identityKey: companion.publicKey,
      linkingSecret: new Uint8Array(32),
      platform: 'cli',
    };
    for (const bad of [
      { ...ok, ref: 'a,b' },
      { ...ok, platform: 'CLI' },
      { ...ok, linkingSecret: new Uint8Array(31) },
    ]) {
      assert.throws(
        () => encodeLinkCode(bad),
        (e: unknown) => AdvError.is(e, 'invalid-argument'),
      );
    }
  });

  it('base64url round-trips every length and matches the platform encoder', () => {
    checkProperty(
      fc.property(fc.uint8Array({ maxLength: 80 }), (bytes) => {
        const text = base64UrlEncode(bytes);
        assert.equal(text, Buffer.from(bytes).toString('base64url'));
        assert.deepEqual(base64UrlDecode(text), bytes);
      }),
    );
  });

  it('any text decodes to a link code or fails with invalid-link-code', async () => {
    const code = await sample();
    checkProperty(
      fc.property(
        fc.oneof(
          fc.string({ maxLength: 300 }),
          fc
            .tuple(
              fc.nat({ max: code.length }),
              fc.nat({ max: code.length }),
              fc.string({ maxLength: 5 }),
            )
            .map(([a, b, s]) => code.slice(0, Math.min(a, b)) + s + code.slice(Math.max(a, b))),
        ),
        (text) => {
          try {
            decodeLinkCode(text);
          } catch (err) {
            assert.ok(AdvError.is(err, 'invalid-link-code'), String(err));
          }
        },
      ),
      { numRuns: 2000 },
    );
  });
});
