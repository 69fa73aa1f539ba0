/**
 * CLI helpers that need no server: error lines, PIN hashing, safety-number
 * formatting, server URL handling.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ClientError } from '../../src/client/core/errors.js';
import { websocketUrl } from '../../src/client/transport/ws-transport.js';
import { CliError, describeError } from '../../src/cli/cli-error.js';
import { hashPin, verifyPin } from '../../src/cli/pin.js';
import { formatSafetyNumber } from '../../src/cli/commands/safety-number.js';

describe('cli helpers', () => {
  it('describes server refusals in one specific line', () => {
    const refused = (code: string): ClientError =>
      new ClientError('server-error', 'x', { serverCode: code });
    assert.equal(
      describeError(refused('unknown-account'), { account: 'bob' }),
      'unknown account: bob',
    );
    assert.match(
      describeError(refused('account-taken'), { account: 'al' }),
      /"al" is already taken/,
    );
    assert.equal(
      describeError(new ClientError('connect-failed', 'x'), { server: 'http://h:1' }),
      'cannot reach the server at http://h:1',
    );
    assert.equal(
      describeError(refused('storage-full')),
      'the server is out of storage space; nothing was sent, try again later',
    );
    assert.equal(
      describeError(refused('unavailable')),
      'the server cannot reach its database right now; try again shortly',
    );
    assert.equal(describeError(new CliError('plain')), 'plain');
    assert.doesNotMatch(describeError(refused('weird')), /\n/);
  });

  it('hashes the PIN with scrypt and verifies it', async () => {
    const stored = await hashPin('1234');
    assert.match(stored, /^scrypt\$15\$8\$1\$/);
    assert.ok(!stored.includes('1234'));
    assert.equal(await verifyPin('1234', stored), true);
    assert.equal(await verifyPin('1235', stored), false);
    assert.notEqual(await hashPin('1234'), stored, 'salted');
    await assert.rejects(hashPin('12'), (e) => e instanceof CliError);
  });

  it('formats the safety number in blocks of five', () => {
    assert.equal(formatSafetyNumber('1234567890'), '12345 67890');
  });

  it('maps server URLs to the WebSocket endpoint', () => {
    assert.equal(websocketUrl('http://127.0.0.1:8080'), 'ws://127.0.0.1:8080/v1/websocket');
    assert.equal(websocketUrl('https://q.example'), 'wss://q.example/v1/websocket');
    assert.throws(
      () => websocketUrl('ftp://x'),
      (e) => ClientError.is(e, 'invalid-argument'),
    );
    assert.throws(
      () => websocketUrl('not a url'),
      (e) => ClientError.is(e, 'invalid-argument'),
    );
  });
});
