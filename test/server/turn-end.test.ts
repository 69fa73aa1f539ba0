import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { TurnScheduler } from '../../src/server/turn-end.js';

/**
 * Resolves after the immediates queued so far and those they queue in turn
 * (two check phases), not after a wall-clock delay: under load a 5 ms
 * timer could fire between the two turns and fail the test spuriously.
 */
const nextTurn = (): Promise<void> =>
  new Promise((resolve) => setImmediate(() => setImmediate(resolve)));

describe('turn end', () => {
  it('runs the commit phase, then its continuations, then the writes', async () => {
    const turns = new TurnScheduler();
    const atTurnEnd = turns.atTurnEnd.bind(turns);
    const order: string[] = [];
    // The write is registered first, as when an ack response is written
    // before any send of the turn submits to the store.
    atTurnEnd('write', () => order.push('write'));
    atTurnEnd('commit', () => {
      order.push('commit');
      void Promise.resolve().then(() => order.push('continuation'));
    });
    assert.deepEqual(order, []);
    await nextTurn();
    assert.deepEqual(order, ['commit', 'continuation', 'write']);
  });

  it('takes work queued after the commit phase into the next turn', async () => {
    const turns = new TurnScheduler();
    const atTurnEnd = turns.atTurnEnd.bind(turns);
    const order: string[] = [];
    atTurnEnd('commit', () => {
      order.push('commit 1');
      void Promise.resolve().then(() => atTurnEnd('commit', () => order.push('commit 2')));
    });
    atTurnEnd('write', () => order.push('write 1'));
    await nextTurn();
    assert.deepEqual(order, ['commit 1', 'write 1', 'commit 2']);
  });

  it('runs every task of a phase when one throws, then reports the error', () => {
    // In a child process: the rethrown error is uncaught by design (a task
    // that throws is a bug), and the test runner would claim it.
    const script = `
      import { TurnScheduler } from './src/server/turn-end.ts';
      const turns = new TurnScheduler();
      const atTurnEnd = turns.atTurnEnd.bind(turns);
      const ran = [];
      process.on('uncaughtException', (error) => {
        ran.push('error: ' + error.message);
        atTurnEnd('commit', () => { ran.push('later'); console.log(JSON.stringify(ran)); });
      });
      atTurnEnd('write', () => { throw new Error('socket gone'); });
      atTurnEnd('write', () => ran.push('second'));
    `;
    const child = spawnSync(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', script],
      {
        encoding: 'utf8',
      },
    );
    assert.equal(child.status, 0, child.stderr);
    assert.deepEqual(JSON.parse(child.stdout), ['second', 'error: socket gone', 'later']);
  });

  it('keeps two schedulers (two servers in one process) apart', async () => {
    const a = new TurnScheduler();
    const b = new TurnScheduler();
    const order: string[] = [];
    a.atTurnEnd('write', () => order.push('a write'));
    // b is asked while a's flush is already scheduled: state shared between
    // them (the old module-level `scheduled` flag) would leave b's task unrun.
    b.atTurnEnd('commit', () => order.push('b commit'));
    a.atTurnEnd('commit', () => order.push('a commit'));
    await nextTurn();
    // Each runs its own phases in order; between the two there is no order.
    assert.deepEqual([...order].sort(), ['a commit', 'a write', 'b commit']);
    assert.ok(order.indexOf('a commit') < order.indexOf('a write'));
    // b's write queue was never touched by a's flush.
    b.atTurnEnd('write', () => order.push('b write'));
    await nextTurn();
    assert.deepEqual(order.slice(3), ['b write']);
  });
});
