import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { SubscriptionRecorder } from '../../src/server/linking/subscriptions.js';
import { createMemoryStore } from '../../src/server/store/memory.js';
import type { SubscriberStore } from '../../src/server/store/types.js';

/** A subscriber store that counts writes and can be told to fail. */
function countingStore(): SubscriberStore & { writes: string[]; failing: boolean } {
  const inner = createMemoryStore().subscribers;
  const store = {
    writes: [] as string[],
    failing: false,
    addSubscriber: async (account: string, subscriber: string): Promise<void> => {
      store.writes.push(`${account}<-${subscriber}`);
      if (store.failing) throw new Error('disk full');
      await inner.addSubscriber(account, subscriber);
    },
    listSubscribers: (account: string) => inner.listSubscribers(account),
  };
  return store;
}

const quiet = pino({ level: 'silent' });
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('subscription recorder', () => {
  it('writes each pair once, and never an account watching itself', async () => {
    const store = countingStore();
    const recorder = new SubscriptionRecorder(store, quiet);
    for (let i = 0; i < 3; i++) {
      recorder.record('bob', 'alice');
      recorder.record('bob', 'carol');
      recorder.record('alice', 'alice');
    }
    await settle();
    assert.deepEqual(store.writes, ['bob<-alice', 'bob<-carol']);
  });

  it('writes a pair again after a failed write', async () => {
    const store = countingStore();
    const recorder = new SubscriptionRecorder(store, quiet);
    store.failing = true;
    recorder.record('bob', 'alice');
    await settle();
    store.failing = false;
    recorder.record('bob', 'alice');
    await settle();
    assert.deepEqual(store.writes, ['bob<-alice', 'bob<-alice']);
  });

  it('forgets the oldest account beyond its bound, then writes its pairs again', async () => {
    const store = countingStore();
    const recorder = new SubscriptionRecorder(store, quiet, 2);
    recorder.record('bob', 'alice');
    recorder.record('bob', 'carol');
    recorder.record('dan', 'alice'); // over the bound: bob's pairs are forgotten
    recorder.record('dan', 'alice');
    recorder.record('bob', 'alice');
    await settle();
    assert.deepEqual(store.writes, ['bob<-alice', 'bob<-carol', 'dan<-alice', 'bob<-alice']);
  });
});
