/**
 * One active device per browser profile. Two tabs running the same device
 * would race on sessions and ratchet state (each would decrypt with, and
 * advance, its own copy) and ack each other's envelopes, so only the tab
 * holding the Web Lock touches the store; others wait for it.
 */

const LOCK_NAME = 'quintet-device';

/** Thrown when the browser has no Web Locks (every current browser has them). */
export class TabLockUnavailableError extends Error {
  override readonly name = 'TabLockUnavailableError';
}

function locks(): LockManager {
  if (!('locks' in navigator)) {
    throw new TabLockUnavailableError('this browser cannot coordinate tabs (no Web Locks)');
  }
  return navigator.locks;
}

/** Resolves once the held lock's callback is running; the lock is kept until the page goes away. */
function hold(options: LockOptions): Promise<boolean> {
  return new Promise((resolve, reject) => {
    locks()
      .request(LOCK_NAME, options, (lock) => {
        if (lock === null) {
          resolve(false);
          return undefined;
        }
        resolve(true);
        // Never settles: the browser releases the lock when this document unloads.
        return new Promise<never>(() => undefined);
      })
      .catch(reject);
  });
}

/** Takes the device lock if no other tab holds it; false when one does. */
export function tryAcquireTabLock(): Promise<boolean> {
  return hold({ ifAvailable: true });
}

/** Waits until the other tab lets go (closes or navigates away), then holds the lock. */
export async function waitForTabLock(): Promise<void> {
  await hold({});
}
