/**
 * Which connection currently speaks for each device. At most one: when a
 * device connects again, the newest connection wins and the older one is
 * closed, so pushes never go to a stale socket and two sockets never race
 * over one queue.
 */
import { deviceKey, type DeviceAddress } from './context.js';
import type { QueuedEnvelope } from './store/types.js';

/** What the registry needs from a connection. */
export interface DeviceEndpoint {
  readonly connectionId: number;
  /** Hands freshly committed envelopes to the device (pushed now or after its backlog). */
  deliver(envelopes: readonly QueuedEnvelope[]): void;
  /** Tells the device its one-time prekeys are running low. */
  notifyPreKeysLow(remaining: number): void;
  /** Closes the connection because a newer one took over. */
  replace(): void;
  /** Sends an encoded push frame now (device-list notices, logout). */
  sendPush(bytes: Uint8Array): void;
  /** Closes the connection with a WebSocket close code and a reason for people. */
  close(code: number, reason: string): void;
}

/** What `toConnection` may do to a connection by id (the linking hand-off). */
export interface ConnectionEndpoint {
  readonly connectionId: number;
  sendPush(bytes: Uint8Array): void;
  extendAuthDeadline(ms: number): void;
}

/** The live device → connection map. */
export class DeviceRegistry {
  private readonly endpoints = new Map<string, DeviceEndpoint>();
  // Placeholder until the cluster router: connections by id, this node only.
  private readonly connections = new Map<number, ConnectionEndpoint>();

  constructor(readonly nodeId = 'local') {}

  /** Makes `endpoint` reachable by `toConnection` (until `removeConnection`). */
  addConnection(endpoint: ConnectionEndpoint): void {
    this.connections.set(endpoint.connectionId, endpoint);
  }

  removeConnection(endpoint: ConnectionEndpoint): void {
    if (this.connections.get(endpoint.connectionId) === endpoint) {
      this.connections.delete(endpoint.connectionId);
    }
  }

  /**
   * Pushes to / extends the deadline of a connection by id. Placeholder:
   * only this node's connections are reached (the cluster router also sends
   * to other nodes over the bus); a waiter elsewhere still gets its filed
   * push from its own node (linking/link-waiters.ts).
   */
  toConnection(
    nodeId: string,
    connectionId: number,
    op: { push?: Uint8Array; extendAuthDeadlineMs?: number },
  ): void {
    if (nodeId !== this.nodeId) return;
    const connection = this.connections.get(connectionId);
    if (connection === undefined) return;
    if (op.extendAuthDeadlineMs !== undefined)
      connection.extendAuthDeadline(op.extendAuthDeadlineMs);
    if (op.push !== undefined) connection.sendPush(op.push);
  }

  /** Makes `endpoint` the device's connection, closing the one it replaces. */
  attach(address: DeviceAddress, endpoint: DeviceEndpoint): void {
    const key = deviceKey(address);
    const previous = this.endpoints.get(key);
    this.endpoints.set(key, endpoint);
    if (previous !== undefined && previous !== endpoint) previous.replace();
  }

  /** Removes `endpoint` if (and only if) it is still the device's connection. */
  detach(address: DeviceAddress, endpoint: DeviceEndpoint): void {
    const key = deviceKey(address);
    if (this.endpoints.get(key) === endpoint) this.endpoints.delete(key);
  }

  /** The device's live connection, if any. */
  get(address: DeviceAddress): DeviceEndpoint | undefined {
    return this.endpoints.get(deviceKey(address));
  }

  /** Connected devices. */
  get size(): number {
    return this.endpoints.size;
  }
}
