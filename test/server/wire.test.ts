import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { checkProperty } from '../property.js';
import {
  AUTH_LABEL,
  authenticationPayload,
  decodeFrame,
  encodeFrame,
  errorResponseFrame,
  isServerErrorCode,
  isValidAccountName,
  requestFrame,
  validateAccountName,
  WireError,
} from '../../src/wire/index.js';

describe('wire: authentication payload', () => {
  it('has the documented layout', () => {
    const nonce = new Uint8Array(32).fill(7);
    const payload = authenticationPayload(nonce, 'alice', 0x01020304);
    const label = new TextEncoder().encode(AUTH_LABEL);
    assert.deepEqual(payload.subarray(0, label.length), label);
    assert.equal(payload[label.length], 0);
    assert.deepEqual(payload.subarray(label.length + 1, label.length + 33), nonce);
    assert.deepEqual([...payload.subarray(label.length + 33, label.length + 35)], [0, 5]);
    assert.equal(new TextDecoder().decode(payload.subarray(label.length + 35, -4)), 'alice');
    assert.deepEqual([...payload.subarray(-4)], [1, 2, 3, 4]);
  });

  it('can never look like a signed prekey or an ADV payload', () => {
    const payload = authenticationPayload(new Uint8Array(32), 'abc', 1);
    assert.notEqual(payload[0], 0x05);
    assert.notEqual(payload[0], 0x06);
    assert.notEqual(payload.length, 33);
  });

  it('differs for every change of account or device', () => {
    const nonce = new Uint8Array(32);
    const a = authenticationPayload(nonce, 'alice', 1);
    assert.notDeepEqual(a, authenticationPayload(nonce, 'alice', 2));
    assert.notDeepEqual(a, authenticationPayload(nonce, 'alicf', 1));
    // Length prefix: moving bytes between name and device id changes the payload.
    assert.notDeepEqual(
      authenticationPayload(nonce, 'ab', 0x63000001),
      authenticationPayload(nonce, 'abc', 1),
    );
  });

  it('rejects bad nonces and device ids with a typed error', () => {
    assert.throws(
      () => authenticationPayload(new Uint8Array(31), 'alice', 1),
      (e: unknown) => WireError.is(e, 'invalid-argument'),
    );
    assert.throws(
      () => authenticationPayload(new Uint8Array(32), 'alice', -1),
      (e: unknown) => WireError.is(e, 'invalid-argument'),
    );
  });
});

describe('wire: frames', () => {
  it('round-trips requests and error responses', () => {
    const frame = requestFrame(42n, { case: 'challenge', value: {} });
    const decoded = decodeFrame(encodeFrame(frame));
    assert.equal(decoded.kind.case, 'request');
    assert.equal(decoded.kind.value?.id, 42n);
    const error = decodeFrame(
      encodeFrame(errorResponseFrame(7n, 'mismatched-devices', 'x', { missingDevices: [2, 3] })),
    );
    assert.ok(error.kind.case === 'response');
    assert.equal(error.kind.value.error?.code, 'mismatched-devices');
    assert.deepEqual(error.kind.value.error?.missingDevices, [2, 3]);
  });

  it('turns garbage into WireError(malformed-frame), never another exception', () => {
    checkProperty(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        try {
          decodeFrame(bytes);
        } catch (error) {
          assert.ok(WireError.is(error, 'malformed-frame'));
        }
      }),
    );
    assert.throws(
      () => decodeFrame(new Uint8Array()),
      (e: unknown) => WireError.is(e, 'malformed-frame'),
    );
    assert.throws(
      () => decodeFrame(new Uint8Array([0x0a, 0xff])),
      (e: unknown) => WireError.is(e, 'malformed-frame'),
    );
  });
});

describe('wire: account names and codes', () => {
  it('accepts and rejects names per the pattern', () => {
    for (const name of ['alice', 'bob', 'a.b-c_d', 'x12', 'a'.repeat(32)]) {
      assert.ok(isValidAccountName(name), name);
    }
    for (const name of [
      '',
      'al',
      'Alice',
      '1abc',
      '_abc',
      'a'.repeat(33),
      'al ice',
      'аlice',
      'a/b',
    ]) {
      assert.ok(!isValidAccountName(name), name);
    }
    assert.throws(
      () => validateAccountName('Bad'),
      (e: unknown) => WireError.is(e, 'invalid-account-name'),
    );
  });

  it('knows its error codes', () => {
    assert.ok(isServerErrorCode('stale-devices'));
    assert.ok(!isServerErrorCode('nope'));
  });
});
