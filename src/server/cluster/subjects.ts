/**
 * NATS subject names. Account names and node ids may contain `.` (the
 * subject separator) and `-`, and a name with `*` or `>` would be a
 * wildcard, so both go into subjects hex-encoded: no name can reach another
 * device's or node's subject.
 */
import type { DeviceAddress } from '../context.js';

/** The default first token of every subject (tests pass a random one per run). */
export const DEFAULT_SUBJECT_PREFIX = 'quintet';

/** A prefix is one or more plain tokens: letters, digits, `_`, `-`, separated by dots. */
export function isValidSubjectPrefix(prefix: string): boolean {
  return /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/.test(prefix);
}

function hex(text: string): string {
  return Buffer.from(text, 'utf8').toString('hex');
}

/** The subjects of one cluster (one prefix). */
export class ClusterSubjects {
  constructor(readonly prefix: string) {
    if (!isValidSubjectPrefix(prefix)) throw new RangeError(`invalid bus subject prefix`);
  }

  /** Messages for one device, heard by the node its connection is on. */
  device(address: DeviceAddress): string {
    return `${this.prefix}.dev.${hex(address.account)}.${address.deviceId}`;
  }

  /** Messages for one node (operations on its connections). */
  node(nodeId: string): string {
    return `${this.prefix}.node.${hex(nodeId)}`;
  }

  /** Device-list changes, heard by every node. */
  get lists(): string {
    return `${this.prefix}.lists`;
  }
}
