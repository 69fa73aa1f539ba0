/**
 * Routes each push of an authenticated connection to the module that
 * handles it (docs/protocol.md, pushes): envelopes to the receiver, device
 * list and group changes to the directory and groups, prekey shortages to
 * a refill. `QuintetClient` (client.ts) calls it for every push.
 */
import type { Push } from '../../gen/quintet/v1/transport_pb.js';
import type { BackgroundTasks } from './background.js';
import type { DeviceDirectory } from './devices/device-directory.js';
import type { ClientEvent } from './events.js';
import type { EventStream } from './event-stream.js';
import type { GroupClient } from './groups/group-client.js';
import type { KeyedQueue } from './keyed-queue.js';
import type { Receiver } from './receiver.js';

/** The client's parts a push can go to. */
export interface PushTargets {
  /** Whether envelopes are processed (`ClientOptions.receive`). */
  readonly receive: boolean;
  readonly receiver: Receiver;
  readonly directory: DeviceDirectory;
  /** The group client, once the client runs. */
  readonly groups: () => GroupClient | undefined;
  /** This device's account name. */
  readonly ownAccount: () => string;
  /** Envelopes being processed; `queueDrained` waits for them. */
  readonly inFlight: Set<Promise<void>>;
  readonly queue: KeyedQueue;
  readonly background: BackgroundTasks;
  readonly events: EventStream<ClientEvent>;
  /** Queues a prekey refill. */
  readonly refillPreKeys: () => void;
}

/** Hands `push` to its handler; never throws (follow-ups run as background tasks). */
export function routePush(push: Push, to: PushTargets): void {
  switch (push.kind.case) {
    case 'envelope': {
      if (!to.receive) return;
      const work = to.receiver.handle(push.kind.value);
      to.inFlight.add(work);
      void work.then(() => to.inFlight.delete(work));
      return;
    }
    case 'queueDrained':
      if (!to.receive) return;
      // Reported once everything pushed before it has been stored and acked.
      to.background.spawn('queue drain', async () => {
        await Promise.all([...to.inFlight]);
        await to.queue.idle();
        to.events.emit({ type: 'queue-drained' });
      });
      return;
    case 'preKeysLow':
      to.refillPreKeys();
      return;
    case 'deviceListChanged': {
      // Revalidate now: removed devices lose their sessions at once, and
      // the next send already uses the new set.
      const account = push.kind.value.account;
      to.directory.invalidate(account);
      to.background.spawn('device list refresh', async () => {
        if (account === to.ownAccount() || (await to.directory.knows(account))) {
          await to.directory.refresh(account);
        }
      });
      return;
    }
    case 'groupChanged': {
      const groupId = push.kind.value.groupId;
      const groups = to.groups();
      if (groups === undefined || groupId.length !== 16) return;
      to.background.spawn('group refresh', () => groups.onGroupChanged(groupId));
      return;
    }
    case 'loggedOut':
      to.events.emit({ type: 'logged-out', reason: push.kind.value.reason });
      return;
    case 'linkApproved':
    case undefined:
      return;
  }
}
