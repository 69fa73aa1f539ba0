/**
 * This node's part in the cluster: turns router operations for devices not
 * connected here into bus messages, acts on the messages other nodes send,
 * and runs degraded mode while the bus is down.
 *
 * PostgreSQL is the truth and the bus only a doorbell. A lost wake delays
 * an envelope until the device's next wake, sweep or reconnect; a lost
 * takeover is repaired by the newer side answering the older one's claim;
 * a lost list change leaves a cached list stale, which the device-set check
 * of the next send catches (the client re-fetches and re-validates).
 *
 * Degraded mode (bus not connected): the device-list cache is bypassed
 * (other nodes' changes cannot be heard), and every connected device's
 * delivery re-reads its queue every `sweepMs`, so an envelope queued through
 * another node waits at most about two sweeps. When the bus comes back every
 * cache is dropped and every device re-read once.
 */
import type { Logger } from 'pino';
import { deviceKey, type DeviceAddress } from '../context.js';
import type { CachedAccountStore } from '../store/cached-accounts.js';
import type { QueuedEnvelope } from '../store/types.js';
import type { BusMessage } from './bus-frames.js';
import type { BusState, BusSubscription, ClusterBus } from './bus.js';
import {
  isNewer,
  type ConnectionOp,
  type DeviceRouter,
  type LocalAttachment,
  type RemoteDevices,
} from './device-router.js';
import type { ClusterSubjects } from './subjects.js';

/** Default period of the degraded-mode sweep: two sweeps stay within the 5 s bound. */
export const DEGRADED_SWEEP_MS = 2000;
/** How long `isConnected` waits for the holder's answer. */
const PRESENCE_TIMEOUT_MS = 500;

/** Options of `ClusterNode`. */
export interface ClusterNodeOptions {
  readonly nodeId: string;
  readonly bus: ClusterBus;
  readonly subjects: ClusterSubjects;
  readonly router: DeviceRouter;
  readonly accounts: CachedAccountStore;
  readonly logger: Logger;
  /** Pushes `DeviceListChanged` to this node's watchers of `account` (linking/notices.ts). */
  readonly announceLocally: (account: string, except: DeviceAddress | undefined) => void;
  /** A push from another node reached connection `connectionId` here (linking hand-off). */
  readonly onConnectionPush?: (connectionId: number) => void;
  readonly sweepMs?: number;
}

/** The cluster side of one node. */
export class ClusterNode implements RemoteDevices {
  private readonly deviceSubscriptions = new Map<string, BusSubscription>();
  private readonly fixed: BusSubscription[] = [];
  private degradedTimer: NodeJS.Timeout | undefined;
  private degradedSince: number | undefined;
  private stopped = false;
  readonly nodeId: string;
  readonly bus: ClusterBus;
  private readonly subjects: ClusterSubjects;
  private readonly router: DeviceRouter;
  private readonly logger: Logger;

  constructor(private readonly options: ClusterNodeOptions) {
    this.nodeId = options.nodeId;
    this.bus = options.bus;
    this.subjects = options.subjects;
    this.router = options.router;
    this.logger = options.logger;
  }

  /** Subscribes the node-wide subjects and enters degraded mode until the bus is up. */
  start(): void {
    this.fixed.push(
      this.bus.subscribe(this.subjects.node(this.nodeId), (message) => this.onNodeMessage(message)),
      this.bus.subscribe(this.subjects.lists, (message) => this.onListMessage(message)),
    );
    if (!this.bus.connected) this.enterDegraded('bus not connected yet');
  }

  /** Whether the node is running without the bus. */
  get degraded(): boolean {
    return this.degradedSince !== undefined;
  }

  /** Reacts to the bus connecting, dropping or closing (wired to `ClusterBus.onState`). */
  onBusState(state: BusState, previous: BusState): void {
    // Shutting down: the bus closing is not a reason to start sweeping.
    if (this.stopped) return;
    this.logger.info({ bus: state, previous }, 'bus state changed');
    if (state === 'connected') this.leaveDegraded();
    else this.enterDegraded(`bus ${state}`);
  }

  private enterDegraded(why: string): void {
    if (this.degradedSince !== undefined) return;
    this.degradedSince = Date.now();
    this.options.accounts.setBypass(true);
    this.degradedTimer = setInterval(
      () => this.wakeAll(),
      this.options.sweepMs ?? DEGRADED_SWEEP_MS,
    );
    this.degradedTimer.unref();
    this.logger.warn({ why }, 'degraded mode: no bus; device lists read through, queues swept');
  }

  private leaveDegraded(): void {
    const since = this.degradedSince;
    if (since === undefined) return;
    this.degradedSince = undefined;
    clearInterval(this.degradedTimer);
    this.degradedTimer = undefined;
    // Changes made elsewhere while we could not hear them: forget every
    // cached list, and re-read every connected device's queue once.
    this.options.accounts.invalidateAll();
    this.options.accounts.setBypass(false);
    this.wakeAll();
    // Takeovers published while the bus was down were lost: a device may
    // now be connected on two nodes. Claiming again closes the older one.
    this.router.forEachLocal((attachment) => this.claim(attachment));
    this.logger.info({ degradedMs: Date.now() - since }, 'bus connected; left degraded mode');
  }

  private wakeAll(): void {
    this.router.forEachLocal((attachment) => attachment.endpoint.wake());
  }

  listen(address: DeviceAddress): Promise<void> {
    return this.subscribeDevice(address)
      ? this.bus.settled(PRESENCE_TIMEOUT_MS)
      : Promise.resolve();
  }

  attached(attachment: LocalAttachment): void {
    const address = attachment.address;
    this.subscribeDevice(address);
    // `listen` (before the login's attach) normally waited until NATS had
    // the subscription, but only so long; and until NATS has it, a wake
    // published by another node reaches nobody, so an envelope committed
    // after the connection's first queue read would wait for the next
    // reconnect. Once the subscription is surely in place, read the queue
    // again: whatever was committed in between is found there.
    this.bus
      .settled()
      .then(() => {
        if (this.router.attachment(address) === attachment) attachment.endpoint.wake();
      })
      .catch((error: unknown) => this.logger.warn({ err: error }, 'post-subscribe wake failed'));
    this.claim(attachment);
  }

  /** Subscribes to the device's subject unless already; true when it subscribed now. */
  private subscribeDevice(address: DeviceAddress): boolean {
    const key = deviceKey(address);
    if (this.deviceSubscriptions.has(key)) return false;
    this.deviceSubscriptions.set(
      key,
      this.bus.subscribe(this.subjects.device(address), (message, reply) =>
        this.onDeviceMessage(address, message, reply),
      ),
    );
    return true;
  }

  /** Tells other nodes this connection is the device's newest. */
  private claim(attachment: LocalAttachment): void {
    this.bus.publish(this.subjects.device(attachment.address), {
      kind: 'takeover',
      origin: this.nodeId,
      attachedAt: attachment.attachedAt,
      connectionId: attachment.endpoint.connectionId,
    });
  }

  detached(address: DeviceAddress): void {
    const key = deviceKey(address);
    this.deviceSubscriptions.get(key)?.unsubscribe();
    this.deviceSubscriptions.delete(key);
  }

  wake(address: DeviceAddress, envelopes: readonly QueuedEnvelope[]): void {
    this.bus.publish(
      this.subjects.device(address),
      envelopes.length === 0
        ? { kind: 'wake', origin: this.nodeId }
        : { kind: 'envelopes', origin: this.nodeId, envelopes },
    );
  }

  push(address: DeviceAddress, bytes: Uint8Array): void {
    this.bus.publish(this.subjects.device(address), { kind: 'push', origin: this.nodeId, bytes });
  }

  pushEphemeral(address: DeviceAddress, bytes: Uint8Array): void {
    this.bus.publish(this.subjects.device(address), {
      kind: 'ephemeral',
      origin: this.nodeId,
      bytes,
    });
  }

  disconnect(address: DeviceAddress, push: Uint8Array, code: number, reason: string): void {
    this.bus.publish(this.subjects.device(address), {
      kind: 'disconnect',
      origin: this.nodeId,
      push,
      code,
      reason,
    });
  }

  async isConnected(address: DeviceAddress): Promise<boolean> {
    // Unknown counts as connected: nothing is removed because the bus is down.
    if (!this.bus.connected) return true;
    const answer = await this.bus.request(
      this.subjects.device(address),
      { kind: 'presence-query', origin: this.nodeId },
      PRESENCE_TIMEOUT_MS,
    );
    if (answer.outcome === 'no-responders') return false;
    if (answer.outcome === 'answer' && answer.message.kind === 'presence') {
      return answer.message.connected;
    }
    return true;
  }

  toConnection(nodeId: string, connectionId: number, op: ConnectionOp): void {
    this.bus.publish(this.subjects.node(nodeId), {
      kind: 'connection-op',
      origin: this.nodeId,
      connectionId,
      push: op.push ?? new Uint8Array(0),
      extendMs: op.extendAuthDeadlineMs ?? -1,
    });
  }

  listChanged(account: string, announce: boolean, except: DeviceAddress | undefined): void {
    this.bus.publish(this.subjects.lists, {
      kind: 'list-changed',
      origin: this.nodeId,
      account,
      announce,
      exceptDeviceId: except?.account === account ? except.deviceId : 0,
    });
  }

  private onDeviceMessage(
    address: DeviceAddress,
    message: BusMessage,
    reply: ((answer: BusMessage) => void) | undefined,
  ): void {
    if (message.origin === this.nodeId) return;
    const local = this.router.attachment(address);
    switch (message.kind) {
      case 'wake':
        local?.endpoint.wake();
        return;
      case 'envelopes':
        if (local === undefined) return;
        // Only this device's envelopes: anything else on its subject is
        // dropped, and the store read that a wake makes covers the rest.
        if (
          message.envelopes.every(
            (e) => e.destination === address.account && e.destinationDevice === address.deviceId,
          )
        ) {
          local.endpoint.deliverRemote(message.envelopes);
        } else {
          this.dropUnexpected(message, 'device');
          local.endpoint.wake();
        }
        return;
      case 'takeover':
        if (local === undefined) return;
        if (
          isNewer(
            {
              attachedAt: message.attachedAt,
              nodeId: message.origin,
              connectionId: message.connectionId,
            },
            {
              attachedAt: local.attachedAt,
              nodeId: this.nodeId,
              connectionId: local.endpoint.connectionId,
            },
          )
        ) {
          this.logger.info(
            { account: address.account, deviceId: address.deviceId, by: message.origin },
            'device taken over on another node',
          );
          local.endpoint.replace();
        } else {
          // Ours is newer: the other node may have missed our claim (it
          // subscribed after we published), so say it again.
          this.claim(local);
        }
        return;
      case 'push':
        local?.endpoint.sendPush(message.bytes);
        return;
      case 'ephemeral':
        local?.endpoint.sendEphemeral(message.bytes);
        return;
      case 'disconnect':
        if (local === undefined) return;
        if (message.push.length > 0) local.endpoint.sendPush(message.push);
        local.endpoint.close(message.code, message.reason);
        return;
      case 'presence-query':
        reply?.({ kind: 'presence', origin: this.nodeId, connected: local !== undefined });
        return;
      default:
        this.dropUnexpected(message, 'device');
    }
  }

  private onNodeMessage(message: BusMessage): void {
    if (message.kind !== 'connection-op') {
      this.dropUnexpected(message, 'node');
      return;
    }
    const applied = this.router.applyToConnection(message.connectionId, {
      push: message.push,
      ...(message.extendMs >= 0 ? { extendAuthDeadlineMs: message.extendMs } : {}),
    });
    if (applied && message.push.length > 0) this.options.onConnectionPush?.(message.connectionId);
  }

  private onListMessage(message: BusMessage): void {
    if (message.kind !== 'list-changed') {
      this.dropUnexpected(message, 'lists');
      return;
    }
    if (message.origin === this.nodeId) return;
    this.options.accounts.invalidate(message.account);
    if (message.announce) {
      this.options.announceLocally(
        message.account,
        message.exceptDeviceId === 0
          ? undefined
          : { account: message.account, deviceId: message.exceptDeviceId },
      );
    }
  }

  private dropUnexpected(message: BusMessage, subject: string): void {
    this.bus.stats.messagesDropped += 1;
    this.logger.warn({ kind: message.kind, subject }, 'dropped a bus message of the wrong kind');
  }

  /** Prometheus lines for the bus (appended to /metrics). */
  renderMetrics(): string {
    return renderNodeMetrics(this.nodeId, this.bus);
  }

  /** Stops the sweep and unsubscribes (the bus itself is closed by its owner). */
  stop(): void {
    this.stopped = true;
    clearInterval(this.degradedTimer);
    this.degradedTimer = undefined;
    for (const subscription of this.deviceSubscriptions.values()) subscription.unsubscribe();
    this.deviceSubscriptions.clear();
    for (const subscription of this.fixed) subscription.unsubscribe();
    this.fixed.length = 0;
  }
}

/**
 * The node's lines of /metrics, each labelled with its id: `quintet_node_info`
 * always, the bus gauges and counters when a bus is configured.
 */
export function renderNodeMetrics(nodeId: string, bus: ClusterBus | undefined): string {
  const node = nodeId.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
  const label = `{node="${node}"}`;
  const lines: string[] = [];
  const metric = (name: string, type: string, help: string, value: number): void => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, `${name}${label} ${value}`);
  };
  metric('quintet_node_info', 'gauge', 'This node (its id is the label).', 1);
  if (bus !== undefined) {
    const { stats } = bus;
    metric(
      'quintet_bus_connected',
      'gauge',
      'Whether the NATS bus is connected (0: degraded mode).',
      bus.connected ? 1 : 0,
    );
    metric(
      'quintet_bus_reconnects_total',
      'counter',
      'Times the bus connection came back.',
      stats.reconnects,
    );
    metric('quintet_bus_messages_in_total', 'counter', 'Bus messages received.', stats.messagesIn);
    metric(
      'quintet_bus_messages_out_total',
      'counter',
      'Bus messages published.',
      stats.messagesOut,
    );
    metric(
      'quintet_bus_messages_dropped_total',
      'counter',
      'Bus messages dropped (malformed, unexpected, or published with no bus).',
      stats.messagesDropped,
    );
  }
  return `${lines.join('\n')}\n`;
}
