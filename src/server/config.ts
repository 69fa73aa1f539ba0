/**
 * Server options and their defaults, in one place so the CLI, tests and the
 * benchmark all start the same server.
 */
import {
  DEFAULT_MAX_ENVELOPE_BYTES,
  DEFAULT_MAX_ENVELOPES_PER_REQUEST,
  DEFAULT_MAX_FRAME_BYTES,
  DEFAULT_MAX_GROUP_MEMBERS,
  DEFAULT_MAX_KEM_PRE_KEYS_PER_UPLOAD,
  DEFAULT_MAX_KEM_PRE_KEYS_STORED,
  DEFAULT_MAX_PRE_KEYS_PER_UPLOAD,
  DEFAULT_MAX_PRE_KEYS_STORED,
  DEFAULT_PRE_KEY_LOW_THRESHOLD,
} from '../wire/limits.js';

const DAY_MS = 24 * 60 * 60 * 1000;
const MIB = 1024 * 1024;

/** Limits and policies that shape request handling. */
export interface ServerLimits {
  /** Largest WebSocket message accepted; bigger ones close the connection with 1009. */
  readonly maxFrameBytes: number;
  readonly maxEnvelopeBytes: number;
  readonly maxEnvelopesPerRequest: number;
  readonly maxPreKeysPerUpload: number;
  readonly maxPreKeysStored: number;
  /** One-time KEM prekeys (PQXDH): most in one upload, most stored per device. */
  readonly maxKemPreKeysPerUpload: number;
  readonly maxKemPreKeysStored: number;
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
  /** Ephemeral sends (typing): content bytes per envelope, at most. */
  readonly maxEphemeralBytes: number;
  /** Ephemeral sends: bucket size and refill per second, per sending device. */
  readonly ephemeralRateBurst: number;
  readonly ephemeralRatePerSecond: number;
  /** Companion devices per account besides the primary (WhatsApp: 4). */
  readonly maxCompanions: number;
  /** Lifetime of a link reference shown in a QR code (WhatsApp: 60 s first). */
  readonly linkRefTtlMs: number;
  /** Time a companion has to complete its link after the primary approved it. */
  readonly linkCompleteTtlMs: number;
  /** Companions are logged out when their primary has not connected for this long. */
  readonly primaryInactiveMs: number;
  /** A companion that has not connected for this long is removed. */
  readonly companionInactiveMs: number;
  /**
   * Members per group (WhatsApp: 1024). A group send may then name up to
   * `maxGroupMembers × (maxCompanions + 1)` recipient devices and carry as
   * many distribution envelopes.
   */
  readonly maxGroupMembers: number;
  // Disk: queue bounds, per-account send rates, storage reserve.
  /** Envelopes one device's queue may hold; a send past it fails with `queue-full`. */
  readonly maxQueuedEnvelopes: number;
  /** Content bytes one device's queue may hold (fanout contents count per device). */
  readonly maxQueuedBytes: number;
  /** Sends (1:1 and group) per account: bucket size and refill per second. */
  readonly sendRateBurst: number;
  readonly sendRatePerSecond: number;
  /** Bytes an account's sends may store: bucket size and refill per second. */
  readonly sendBytesBurst: number;
  readonly sendBytesPerSecond: number;
  /** Disk kept free beside the database so acks commit on a full disk (0: none). */
  readonly storageReserveBytes: number;
  // Prekey bundles: per-target limit on one-time prekeys handed out.
  /**
   * Bundle fetches that may take one-time prekeys of one target account:
   * bucket size and refill per second, shared by every requester. Past it
   * the target's bundles carry the signed prekey only (see handlers/prekeys.ts).
   */
  readonly bundleTargetBurst: number;
  readonly bundleTargetPerSecond: number;
  // Connections and HTTP: output budget, unauthenticated sockets, caps, challenges, registration.
  /**
   * Bytes sent to one connection and not yet taken by its client (responses,
   * pushes, notices; before and after authentication). Past it the server
   * stops reading the connection's requests and stops reading its backlog
   * until it drains to half; past twice this it closes the connection (4004).
   */
  readonly maxConnectionOutputBytes: number;
  /** A connection whose output stays over budget this long is closed (4004). */
  readonly outputStuckMs: number;
  /** Time a connection has to authenticate (or open a link) before it is closed (4005). */
  readonly authTimeoutMs: number;
  /** Open WebSocket connections; more upgrades are refused with HTTP 503. */
  readonly maxConnections: number;
  /** Open WebSocket connections from one remote address (HTTP 503 past it). */
  readonly maxConnectionsPerAddress: number;
  /**
   * Time a socket has to send a complete request line and headers (the
   * WebSocket upgrade included); also how long a socket that has not yet
   * upgraded may sit idle.
   */
  readonly httpHeadersTimeoutMs: number;
  /** Time a socket has to send a complete HTTP request. */
  readonly httpRequestTimeoutMs: number;
  /** Outstanding challenges server-wide; past it the oldest is forgotten. */
  readonly maxOutstandingChallenges: number;
  /** Registrations per remote address: bucket size and refill per hour. */
  readonly registrationBurst: number;
  readonly registrationsPerHour: number;
  // Blob store (attachments, history archives): size, quota, uploads at once, lifetimes.
  /** Largest blob one upload may store (`blob-too-large`, HTTP 413). */
  readonly maxBlobBytes: number;
  /** Bytes of unexpired blobs one account may hold (`quota-exceeded`, HTTP 413). */
  readonly blobQuotaBytes: number;
  /** Uploads one account may have in progress at once on one node (HTTP 429). */
  readonly maxBlobUploadsPerAccount: number;
  /** Lifetime of an attachment blob. */
  readonly attachmentTtlMs: number;
  /** Lifetime of a history archive blob (deleted sooner once imported). */
  readonly archiveTtlMs: number;
  /**
   * Time one blob upload may take (its body arrives over a slow link).
   * Replaces `httpRequestTimeoutMs` for uploads; a stalled upload is still
   * cut by the socket's idle timeout (`httpHeadersTimeoutMs`).
   */
  readonly blobUploadTimeoutMs: number;
}

/** The defaults, chosen to match WhatsApp/Signal practice where one exists. */
export const DEFAULT_LIMITS: ServerLimits = {
  maxFrameBytes: DEFAULT_MAX_FRAME_BYTES,
  maxEnvelopeBytes: DEFAULT_MAX_ENVELOPE_BYTES,
  maxEnvelopesPerRequest: DEFAULT_MAX_ENVELOPES_PER_REQUEST,
  maxPreKeysPerUpload: DEFAULT_MAX_PRE_KEYS_PER_UPLOAD,
  maxPreKeysStored: DEFAULT_MAX_PRE_KEYS_STORED,
  maxKemPreKeysPerUpload: DEFAULT_MAX_KEM_PRE_KEYS_PER_UPLOAD,
  maxKemPreKeysStored: DEFAULT_MAX_KEM_PRE_KEYS_STORED,
  preKeyLowThreshold: DEFAULT_PRE_KEY_LOW_THRESHOLD,
  maxAcksPerRequest: 1024,
  messageTtlMs: 30 * DAY_MS,
  bundleRateBurst: 100,
  bundleRatePerSecond: 2,
  maxMalformedFrames: 3,
  maxChallengesPerConnection: 4,
  backlogPageSize: 100,
  // A typing indicator is a few dozen bytes of content plus the ratchet's
  // header — but until the peer answers, every message of a new session is
  // a prekey message, and a v4 one (PQXDH, the default) carries the
  // 1568-byte Kyber1024 ciphertext: about 1.9 KB in all. 4 KiB fits it with
  // room for the SPQR field; a person types at most a start/stop pair every
  // few seconds, so the rate bounds what a client could relay this way.
  maxEphemeralBytes: 4096,
  ephemeralRateBurst: 20,
  ephemeralRatePerSecond: 2,
  maxCompanions: 4,
  linkRefTtlMs: 60_000,
  linkCompleteTtlMs: 5 * 60_000,
  primaryInactiveMs: 14 * DAY_MS,
  companionInactiveMs: 30 * DAY_MS,
  maxGroupMembers: DEFAULT_MAX_GROUP_MEMBERS,
  // Disk. 50,000 envelopes: a month offline at over one message a minute,
  // day and night (Signal-Server keeps up to ~100k per device for 30 days);
  // 256 MiB: a thousand largest envelopes. 1,000 sends at once and 50 a
  // second cover a returning phone answering its backlog with receipts; 64
  // MiB at once and 1 MiB a second hold one account to 124 MiB a minute.
  maxQueuedEnvelopes: 50_000,
  maxQueuedBytes: 256 * MIB,
  sendRateBurst: 1_000,
  sendRatePerSecond: 50,
  sendBytesBurst: 64 * MIB,
  sendBytesPerSecond: MIB,
  storageReserveBytes: 16 * MIB,
  // Prekey bundles: per-target limit on one-time prekeys handed out.
  bundleTargetBurst: 50,
  bundleTargetPerSecond: 0.05,
  // Connections and HTTP: output budget, unauthenticated sockets, caps, challenges, registration.
  maxConnectionOutputBytes: 4 * 1024 * 1024,
  outputStuckMs: 30_000,
  authTimeoutMs: 10_000,
  maxConnections: 20_000,
  maxConnectionsPerAddress: 200,
  httpHeadersTimeoutMs: 10_000,
  httpRequestTimeoutMs: 30_000,
  maxOutstandingChallenges: 100_000,
  registrationBurst: 10,
  registrationsPerHour: 10,
  // Blob store: 100 MiB per blob (WhatsApp's document limit is larger, but
  // a history archive of 90 days fits easily); 1 GiB per account covers
  // 30 days of attachments for a heavy user; 4 uploads at once per account.
  maxBlobBytes: 100 * MIB,
  blobQuotaBytes: 1024 * MIB,
  maxBlobUploadsPerAccount: 4,
  attachmentTtlMs: 30 * DAY_MS,
  archiveTtlMs: DAY_MS,
  // 100 MiB in 15 minutes: about 1 Mbit/s, a poor mobile uplink.
  blobUploadTimeoutMs: 15 * 60_000,
};
