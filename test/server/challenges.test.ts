/**
 * The challenge table: single use, bound to a connection, expiring, bounded
 * per connection and server-wide (the oldest goes first), and a closed
 * connection's nonces forgotten without touching anyone else's.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { nodeCrypto } from '../../src/crypto/node.js';
import { ChallengeRegistry } from '../../src/server/auth/challenges.js';
import { ManualClock } from './helpers/server.js';

const random = (n: number): Uint8Array => nodeCrypto.randomBytes(n);

function issued(registry: ChallengeRegistry, connectionId: number): Uint8Array {
  const nonce = registry.issue(connectionId);
  assert.ok(nonce !== undefined);
  return nonce;
}

describe('challenge registry', () => {
  it('consumes a nonce once, only for its own connection', () => {
    const registry = new ChallengeRegistry(new ManualClock(), random, 4);
    const nonce = issued(registry, 1);
    assert.equal(registry.consume(2, nonce), false);
    assert.equal(registry.consume(1, nonce), true);
    assert.equal(registry.consume(1, nonce), false);
    assert.equal(registry.size, 0);
  });

  it('bounds unused nonces per connection and frees a slot on use', () => {
    const registry = new ChallengeRegistry(new ManualClock(), random, 2);
    const first = issued(registry, 1);
    issued(registry, 1);
    assert.equal(registry.issue(1), undefined);
    assert.ok(registry.issue(2) !== undefined);
    assert.equal(registry.consume(1, first), true);
    assert.ok(registry.issue(1) !== undefined);
  });

  it('expires nonces and sweeps them when new ones are issued', () => {
    const clock = new ManualClock();
    const registry = new ChallengeRegistry(clock, random, 4, Number.POSITIVE_INFINITY, 1000);
    const old = issued(registry, 1);
    issued(registry, 2);
    clock.advance(600);
    const young = issued(registry, 3);
    clock.advance(600);
    assert.equal(registry.consume(1, old), false);
    issued(registry, 4);
    // The two expired ones were swept; the young one and the new one remain.
    assert.equal(registry.size, 2);
    assert.equal(registry.consume(3, young), true);
    // A swept connection holds no slots any more.
    for (let i = 0; i < 4; i++) issued(registry, 2);
  });

  it('forgets the oldest nonce past the server-wide bound', () => {
    const registry = new ChallengeRegistry(new ManualClock(), random, 4, 3);
    const oldest = issued(registry, 1);
    const second = issued(registry, 2);
    issued(registry, 3);
    issued(registry, 4);
    assert.equal(registry.size, 3);
    assert.equal(registry.consume(1, oldest), false);
    assert.equal(registry.consume(2, second), true);
    // Connection 1's slot was released with its evicted nonce.
    for (let i = 0; i < 3; i++) issued(registry, 1);
  });

  it("drops a closed connection's nonces only", () => {
    const registry = new ChallengeRegistry(new ManualClock(), random, 4);
    issued(registry, 1);
    issued(registry, 1);
    const other = issued(registry, 2);
    registry.dropConnection(1);
    assert.equal(registry.size, 1);
    assert.equal(registry.consume(2, other), true);
  });
});
