/**
 * Which connection speaks for each device, on this node and — through the
 * bus — on the others. At most one connection per device survives across
 * the cluster: when a device connects again, the newest connection wins and
 * the older one is closed (here directly, on another node by a takeover
 * message), so pushes never go to a stale socket and two sockets never race
 * over one queue.
 *
 * Without a bus (a single node) every operation is the local one, taken
 * synchronously exactly as before: the send hot path pays one map lookup.
 * With a bus, what cannot be done here is handed to `RemoteDevices`.
 */
import { deviceKey, type DeviceAddress } from '../context.js';
import type { QueuedEnvelope } from '../store/types.js';

/** What the router needs from an authenticated connection. */
export interface DeviceEndpoint {
  readonly connectionId: number;
  /** Hands freshly committed envelopes to the device (pushed now or after its backlog). */
  deliver(envelopes: readonly QueuedEnvelope[]): void;
  /** Envelopes were queued elsewhere: re-read the queue from the delivery cursor. */
  wake(): void;
  /**
   * Envelopes committed on another node, carried by its wake: pushed as
   * they are when they follow what this connection has seen, else a wake.
   */
  deliverRemote(envelopes: readonly QueuedEnvelope[]): void;
  /** Closes the connection because a newer one took over. */
  replace(): void;
  /** Sends an encoded push frame now (device-list notices, logout). */
  sendPush(bytes: Uint8Array): void;
  /** Sends an ephemeral envelope's push frame if the output has room, else drops it. */
  sendEphemeral(bytes: Uint8Array): void;
  /** Closes the connection with a WebSocket close code and a reason for people. */
  close(code: number, reason: string): void;
}

/** What the router needs from any connection, authenticated or not (linking hand-off). */
export interface ConnectionEndpoint {
  readonly connectionId: number;
  sendPush(bytes: Uint8Array): void;
  extendAuthDeadline(ms: number): void;
}

/** An operation on one connection, possibly on another node. */
export interface ConnectionOp {
  readonly push?: Uint8Array;
  readonly extendAuthDeadlineMs?: number;
}

/** A device's connection on this node. */
export interface LocalAttachment {
  readonly address: DeviceAddress;
  readonly endpoint: DeviceEndpoint;
  /** Wall-clock ms (comparable across nodes) of the attach, for takeovers. */
  readonly attachedAt: number;
}

/** The cluster side: implemented by `ClusterNode` over the bus. */
export interface RemoteDevices {
  /**
   * Listens for the device (as `attached` does) and resolves once other
   * nodes can see the listener: their `isConnected` then says yes.
   */
  listen(address: DeviceAddress): Promise<void>;
  /** The device attached here: listen for it and tell older connections elsewhere. */
  attached(attachment: LocalAttachment): void;
  /** The device has no connection here any more. */
  detached(address: DeviceAddress): void;
  /**
   * Envelopes were queued for a device not connected here: `envelopes`
   * (in queue order) travel with the wake, or none when they were too
   * large to carry and the holder must read the store.
   */
  wake(address: DeviceAddress, envelopes: readonly QueuedEnvelope[]): void;
  push(address: DeviceAddress, bytes: Uint8Array): void;
  /** An ephemeral envelope's push frame: sent by the node holding the device, or nowhere. */
  pushEphemeral(address: DeviceAddress, bytes: Uint8Array): void;
  disconnect(address: DeviceAddress, push: Uint8Array, code: number, reason: string): void;
  isConnected(address: DeviceAddress): Promise<boolean>;
  toConnection(nodeId: string, connectionId: number, op: ConnectionOp): void;
  /** The account's devices changed here: other nodes drop cached lists (and announce). */
  listChanged(account: string, announce: boolean, except: DeviceAddress | undefined): void;
}

/**
 * Orders two connections of one device: the later attach wins; equal
 * times (clock resolution, skew) fall to the node id, then the connection
 * id, so two nodes comparing the same pair always agree on one survivor.
 */
export function isNewer(
  a: { attachedAt: number; nodeId: string; connectionId: number },
  b: { attachedAt: number; nodeId: string; connectionId: number },
): boolean {
  if (a.attachedAt !== b.attachedAt) return a.attachedAt > b.attachedAt;
  if (a.nodeId !== b.nodeId) return a.nodeId > b.nodeId;
  return a.connectionId > b.connectionId;
}

/**
 * Content bytes one wake carries at most (the rest of a turn's envelopes
 * for that device are read from the store); well under NATS's default
 * 1 MiB payload limit.
 */
const MAX_CARRIED_BYTES = 64 * 1024;

/** A device's wake of this turn: one bus message per device per turn. */
interface PendingWake {
  readonly address: DeviceAddress;
  /** What it carries; undefined once over `MAX_CARRIED_BYTES` (a plain wake). */
  envelopes: QueuedEnvelope[] | undefined;
  bytes: number;
}

/** The device → connection router. */
export class DeviceRouter {
  private readonly attachments = new Map<string, LocalAttachment>();
  private readonly connections = new Map<number, ConnectionEndpoint>();
  private nextConnectionId = 1;
  private remote: RemoteDevices | undefined;
  private readonly pendingWakes = new Map<string, PendingWake>();
  private wakeFlushQueued = false;

  constructor(
    readonly nodeId: string,
    /** Wall clock for attach times (tests of takeovers inject one). */
    private readonly wallClock: () => number = Date.now,
    /**
     * Runs the turn's wake flush. The server passes its turn end (after
     * the group commit's continuations), so every wake of a turn goes to
     * NATS in one socket write; the NATS client writes once per microtask
     * burst, and a turn's sends finish over many of them.
     */
    private readonly atTurnEnd: (task: () => void) => void = queueMicrotask,
  ) {}

  /** Connects the router to the cluster (set once, before any connection). */
  useRemote(remote: RemoteDevices): void {
    this.remote = remote;
  }

  /** Whether there is a cluster behind this router (a bus is configured). */
  get clustered(): boolean {
    return this.remote !== undefined;
  }

  /** A new connection's id, unique on this node. */
  register(connection: Omit<ConnectionEndpoint, 'connectionId'>): number {
    const id = this.nextConnectionId++;
    this.connections.set(id, { ...bindConnection(connection), connectionId: id });
    return id;
  }

  /** Forgets a closed connection. */
  unregister(connectionId: number): void {
    this.connections.delete(connectionId);
  }

  /**
   * Call before `attach` at a login: resolves once other nodes will find
   * the device connected here. NATS orders nothing across connections, so
   * without it another node's presence query could still find no listener
   * after the client saw its login answered — and the inactive-device
   * sweep remove a companion that has just logged in.
   */
  listen(address: DeviceAddress): Promise<void> {
    return this.remote?.listen(address) ?? Promise.resolve();
  }

  /** Makes `endpoint` the device's connection, closing the one it replaces (here or elsewhere). */
  attach(address: DeviceAddress, endpoint: DeviceEndpoint): void {
    const key = deviceKey(address);
    const previous = this.attachments.get(key);
    const attachment: LocalAttachment = { address, endpoint, attachedAt: this.wallClock() };
    this.attachments.set(key, attachment);
    if (previous !== undefined && previous.endpoint !== endpoint) previous.endpoint.replace();
    this.remote?.attached(attachment);
  }

  /** Removes `endpoint` if (and only if) it is still the device's connection. */
  detach(address: DeviceAddress, endpoint: DeviceEndpoint): void {
    const key = deviceKey(address);
    if (this.attachments.get(key)?.endpoint !== endpoint) return;
    this.attachments.delete(key);
    this.remote?.detached(address);
  }

  /** The device's live connection on this node, if any. */
  get(address: DeviceAddress): DeviceEndpoint | undefined {
    return this.attachments.get(deviceKey(address))?.endpoint;
  }

  /** The device's attachment on this node (takeover comparisons). */
  attachment(address: DeviceAddress): LocalAttachment | undefined {
    return this.attachments.get(deviceKey(address));
  }

  /** A connection of this node by id. */
  connection(connectionId: number): ConnectionEndpoint | undefined {
    return this.connections.get(connectionId);
  }

  /**
   * Hands committed envelopes to the device: directly when it is connected
   * here (`local`, if the caller already looked it up), else a wake to
   * whichever node holds it (coalesced per device within the turn).
   */
  deliver(
    address: DeviceAddress,
    envelopes: readonly QueuedEnvelope[],
    local: DeviceEndpoint | undefined = this.get(address),
  ): void {
    if (local !== undefined) {
      local.deliver(envelopes);
      return;
    }
    if (this.remote === undefined) return;
    const key = deviceKey(address);
    let pending = this.pendingWakes.get(key);
    if (pending === undefined) {
      pending = { address, envelopes: [], bytes: 0 };
      this.pendingWakes.set(key, pending);
    }
    if (pending.envelopes !== undefined) {
      for (const envelope of envelopes) {
        pending.envelopes.push(envelope);
        pending.bytes += envelope.content.length;
      }
      // Too much to carry in one bus message: a plain wake, the holder reads the store.
      if (pending.bytes > MAX_CARRIED_BYTES) pending.envelopes = undefined;
    }
    if (!this.wakeFlushQueued) {
      this.wakeFlushQueued = true;
      this.atTurnEnd(this.flushWakes);
    }
  }

  private readonly flushWakes = (): void => {
    this.wakeFlushQueued = false;
    const remote = this.remote;
    const wakes = [...this.pendingWakes.values()];
    this.pendingWakes.clear();
    if (remote === undefined) return;
    for (const wake of wakes) remote.wake(wake.address, wake.envelopes ?? []);
  };

  /** Sends a push frame to the device wherever it is connected. */
  sendPush(address: DeviceAddress, bytes: Uint8Array): void {
    const local = this.get(address);
    if (local !== undefined) local.sendPush(bytes);
    else this.remote?.push(address, bytes);
  }

  /**
   * Sends an ephemeral envelope (typing) to the device if it is connected:
   * here directly, else one bus message that only the node holding the
   * device acts on. Nothing is stored or woken anywhere, so a device that
   * is not connected never sees it.
   */
  pushEphemeral(address: DeviceAddress, bytes: Uint8Array): void {
    const local = this.get(address);
    if (local !== undefined) local.sendEphemeral(bytes);
    else this.remote?.pushEphemeral(address, bytes);
  }

  /**
   * Sends `push` (if not empty) and closes the device's connection wherever
   * it is. Published to the bus even when the device is here: during a
   * takeover race a second connection may exist on another node.
   */
  disconnect(address: DeviceAddress, push: Uint8Array, code: number, reason: string): void {
    const local = this.get(address);
    if (local !== undefined) {
      if (push.length > 0) local.sendPush(push);
      local.close(code, reason);
    }
    this.remote?.disconnect(address, push, code, reason);
  }

  /**
   * Whether the device is connected anywhere. When the bus cannot tell
   * (down, or no answer in time) this says true: callers use it to decide
   * whether a device is inactive, and a device must never be removed
   * because the bus was down.
   */
  isConnected(address: DeviceAddress): Promise<boolean> {
    if (this.get(address) !== undefined) return Promise.resolve(true);
    if (this.remote === undefined) return Promise.resolve(false);
    return this.remote.isConnected(address);
  }

  /** Applies `op` to a connection on `nodeId` (here, or over the bus). */
  toConnection(nodeId: string, connectionId: number, op: ConnectionOp): void {
    if (nodeId !== this.nodeId) {
      this.remote?.toConnection(nodeId, connectionId, op);
      return;
    }
    this.applyToConnection(connectionId, op);
  }

  /** `toConnection` for a connection of this node; false when it is gone. */
  applyToConnection(connectionId: number, op: ConnectionOp): boolean {
    const connection = this.connections.get(connectionId);
    if (connection === undefined) return false;
    if (op.extendAuthDeadlineMs !== undefined) {
      connection.extendAuthDeadline(op.extendAuthDeadlineMs);
    }
    if (op.push !== undefined && op.push.length > 0) connection.sendPush(op.push);
    return true;
  }

  /** Tells the cluster that `account`'s devices changed (no-op on a single node). */
  listChanged(account: string, announce: boolean, except?: DeviceAddress): void {
    this.remote?.listChanged(account, announce, except);
  }

  /** Every device connected here (degraded-mode sweep, bus recovery). */
  forEachLocal(visit: (attachment: LocalAttachment) => void): void {
    for (const attachment of this.attachments.values()) visit(attachment);
  }

  /** Devices connected to this node. */
  get size(): number {
    return this.attachments.size;
  }
}

/** Keeps the connection's methods bound (they are called off the object). */
function bindConnection(
  connection: Omit<ConnectionEndpoint, 'connectionId'>,
): Omit<ConnectionEndpoint, 'connectionId'> {
  return {
    sendPush: (bytes) => connection.sendPush(bytes),
    extendAuthDeadline: (ms) => connection.extendAuthDeadline(ms),
  };
}
