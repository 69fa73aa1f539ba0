/**
 * Server metrics, rendered by hand in the Prometheus text exposition format
 * (version 0.0.4) — a handful of counters and gauges do not justify a
 * client library. Labels are fixed vocabularies (error codes), never user
 * data, so cardinality stays bounded.
 */
import { SERVER_ERROR_CODES, type ServerErrorCode } from '../wire/errors.js';

/** Live counters and gauges; the server increments them, `/metrics` renders them. */
export class ServerMetrics {
  connectionsOpened = 0;
  connections = 0;
  authenticatedDevices = 0;
  messagesReceived = 0;
  messagesDelivered = 0;
  messagesAcked = 0;
  messagesExpired = 0;
  /** Ephemeral envelopes (typing) accepted for a push; never stored. */
  ephemeralPushed = 0;
  framesRejected = 0;
  /** Companions whose link completed. */
  devicesLinked = 0;
  /** Devices removed, by `LoggedOut` reason (a fixed vocabulary). */
  readonly devicesRemoved = new Map<string, number>();
  readonly errors = new Map<ServerErrorCode, number>(SERVER_ERROR_CODES.map((c) => [c, 0]));
  // Connections and HTTP: output budget, unauthenticated sockets, caps.
  /** Times a connection went over its output budget and its requests stopped being read. */
  outputPauses = 0;
  /** Connections closed because they did not read their output (4004). */
  outputStuckCloses = 0;
  /** Connections closed for not authenticating in time (4005). */
  authTimeouts = 0;
  /** WebSocket upgrades refused (HTTP 503), by cap: `total` or `per-address`. */
  readonly upgradesRefused = new Map<string, number>([
    ['total', 0],
    ['per-address', 0],
  ]);

  /** Counts one refused upgrade. */
  upgradeRefused(cap: 'total' | 'per-address'): void {
    this.upgradesRefused.set(cap, (this.upgradesRefused.get(cap) ?? 0) + 1);
  }

  /** Counts one error response. */
  error(code: ServerErrorCode): void {
    this.errors.set(code, (this.errors.get(code) ?? 0) + 1);
  }

  /** Counts one removed device. */
  deviceRemoved(reason: string): void {
    this.devicesRemoved.set(reason, (this.devicesRemoved.get(reason) ?? 0) + 1);
  }

  /** Renders every metric; gauges read from elsewhere are passed in. */
  render(extra: { queueDepth: number; storeCommits?: number }): string {
    const lines: string[] = [];
    const metric = (name: string, type: string, help: string, value: number): void => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, `${name} ${value}`);
    };
    metric('quintet_connections', 'gauge', 'Open WebSocket connections.', this.connections);
    metric(
      'quintet_connections_opened_total',
      'counter',
      'WebSocket connections accepted.',
      this.connectionsOpened,
    );
    metric(
      'quintet_authenticated_devices',
      'gauge',
      'Connections authenticated as a device.',
      this.authenticatedDevices,
    );
    metric('quintet_queue_depth', 'gauge', 'Envelopes waiting in device queues.', extra.queueDepth);
    metric(
      'quintet_messages_received_total',
      'counter',
      'Envelopes accepted and queued.',
      this.messagesReceived,
    );
    metric(
      'quintet_messages_delivered_total',
      'counter',
      'Envelopes pushed to a device (including redeliveries).',
      this.messagesDelivered,
    );
    metric(
      'quintet_messages_acked_total',
      'counter',
      'Envelopes deleted after their device acknowledged them.',
      this.messagesAcked,
    );
    metric(
      'quintet_messages_expired_total',
      'counter',
      'Undelivered envelopes deleted at the end of their lifetime.',
      this.messagesExpired,
    );
    metric(
      'quintet_ephemeral_pushed_total',
      'counter',
      'Ephemeral envelopes (typing) handed to a connection or the bus; never stored.',
      this.ephemeralPushed,
    );
    metric(
      'quintet_frames_rejected_total',
      'counter',
      'Frames that did not parse.',
      this.framesRejected,
    );
    if (extra.storeCommits !== undefined) {
      metric(
        'quintet_store_commits_total',
        'counter',
        'Group-committed store transactions.',
        extra.storeCommits,
      );
    }
    metric(
      'quintet_devices_linked_total',
      'counter',
      'Companion devices linked.',
      this.devicesLinked,
    );
    lines.push(
      '# HELP quintet_devices_removed_total Devices removed, by reason.',
      '# TYPE quintet_devices_removed_total counter',
    );
    for (const [reason, count] of this.devicesRemoved)
      lines.push(`quintet_devices_removed_total{reason="${reason}"} ${count}`);
    lines.push(
      '# HELP quintet_errors_total Error responses by code.',
      '# TYPE quintet_errors_total counter',
    );
    for (const [code, count] of this.errors)
      lines.push(`quintet_errors_total{code="${code}"} ${count}`);
    // Connections and HTTP: output budget, unauthenticated sockets, caps.
    metric(
      'quintet_output_pauses_total',
      'counter',
      'Times a connection went over its output budget (its requests were not read until it drained).',
      this.outputPauses,
    );
    metric(
      'quintet_output_stuck_closes_total',
      'counter',
      'Connections closed because they did not read their output (4004).',
      this.outputStuckCloses,
    );
    metric(
      'quintet_auth_timeouts_total',
      'counter',
      'Connections closed for not authenticating in time (4005).',
      this.authTimeouts,
    );
    lines.push(
      '# HELP quintet_upgrades_refused_total WebSocket upgrades refused with 503, by cap.',
      '# TYPE quintet_upgrades_refused_total counter',
    );
    for (const [cap, count] of this.upgradesRefused)
      lines.push(`quintet_upgrades_refused_total{cap="${cap}"} ${count}`);
    return `${lines.join('\n')}\n`;
  }
}
