/**
 * What `receive --follow` prints on stderr while it reconnects: the close
 * code of a lost connection, the cause of a failed attempt, the delay, and
 * "reconnected" only after a recovery (not for the first connection).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { connectionLine } from '../../src/cli/commands/receive.js';

describe('receive --follow connection lines', () => {
  it('names the close code and the delay of a lost connection', () => {
    assert.equal(
      connectionLine(
        { type: 'connection', state: 'waiting', delayMs: 1_234, cause: 'closed', closeCode: 1001 },
        true,
      ),
      'warning: the connection to the server was lost (close 1001); reconnecting in 1.2 s',
    );
  });

  it('names the next server when it fails over between several', () => {
    assert.equal(
      connectionLine(
        {
          type: 'connection',
          state: 'waiting',
          delayMs: 400,
          cause: 'closed',
          closeCode: 1001,
          server: 'https://node-b.example',
        },
        true,
      ),
      'warning: the connection to the server was lost (close 1001); reconnecting to https://node-b.example in 0.4 s',
    );
  });

  it('names the cause of a failed attempt', () => {
    assert.equal(
      connectionLine(
        { type: 'connection', state: 'waiting', delayMs: 30_000, cause: 'connect-failed' },
        false,
      ),
      'warning: reconnecting failed (connect-failed); reconnecting in 30.0 s',
    );
  });

  it('says "reconnected" after a recovery only', () => {
    assert.equal(
      connectionLine({ type: 'connection', state: 'online' }, true),
      'reconnected to the server',
    );
    assert.equal(connectionLine({ type: 'connection', state: 'online' }, false), undefined);
    assert.equal(
      connectionLine({ type: 'connection', state: 'connecting', attempt: 2 }, true),
      undefined,
    );
  });
});
