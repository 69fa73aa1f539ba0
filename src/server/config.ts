/**
 * Server options and their defaults, in one place so the CLI, tests and the
 * benchmark all start the same server.
 */
import {
  DEFAULT_MAX_ENVELOPE_BYTES,
  DEFAULT_MAX_ENVELOPES_PER_REQUEST,
  DEFAULT_MAX_FRAME_BYTES,
  DEFAULT_MAX_PRE_KEYS_PER_UPLOAD,
  DEFAULT_MAX_PRE_KEYS_STORED,
  DEFAULT_PRE_KEY_LOW_THRESHOLD,
} from '../wire/limits.js';

/** Limits and policies that shape request handling. */
export interface ServerLimits {
  /** Largest WebSocket message accepted; bigger ones close the connection with 1009. */
  readonly maxFrameBytes: number;
  readonly maxEnvelopeBytes: number;
  readonly maxEnvelopesPerRequest: number;
  readonly maxPreKeysPerUpload: number;
  readonly maxPreKeysStored: number;
  /** Below this many one-time prekeys a device is told to upload more. */
  readonly preKeyLowThreshold: number;
  /** Most guids in one ack request. */
  readonly maxAcksPerRequest: number;
  /** Undelivered envelopes older than this are deleted. */
  readonly messageTtlMs: number;
  /** Bundle fetches: bucket size and refill per second, per requesting device. */
  readonly bundleRateBurst: number;
  readonly bundleRatePerSecond: number;
  /** Malformed frames tolerated on one connection before it is closed. */
  readonly maxMalformedFrames: number;
  /** Outstanding (unused) challenges one connection may hold. */
  readonly maxChallengesPerConnection: number;
  /** Envelopes read from the store per page when draining a backlog. */
  readonly backlogPageSize: number;
}

/** The defaults, chosen to match WhatsApp/Signal practice where one exists. */
export const DEFAULT_LIMITS: ServerLimits = {
  maxFrameBytes: DEFAULT_MAX_FRAME_BYTES,
  maxEnvelopeBytes: DEFAULT_MAX_ENVELOPE_BYTES,
  maxEnvelopesPerRequest: DEFAULT_MAX_ENVELOPES_PER_REQUEST,
  maxPreKeysPerUpload: DEFAULT_MAX_PRE_KEYS_PER_UPLOAD,
  maxPreKeysStored: DEFAULT_MAX_PRE_KEYS_STORED,
  preKeyLowThreshold: DEFAULT_PRE_KEY_LOW_THRESHOLD,
  maxAcksPerRequest: 1024,
  messageTtlMs: 30 * 24 * 60 * 60 * 1000,
  bundleRateBurst: 100,
  bundleRatePerSecond: 2,
  maxMalformedFrames: 3,
  maxChallengesPerConnection: 4,
  backlogPageSize: 100,
};
