/**
 * Wire-level constants both sides need to agree on: where the WebSocket
 * lives and the server's default limits (a server may be configured with
 * other values; it reports violations with typed errors).
 */

/** The WebSocket path (the server also accepts `/`). */
export const WEBSOCKET_PATH = '/v1/websocket';

/** Default largest `content` of one envelope (256 KiB). */
export const DEFAULT_MAX_ENVELOPE_BYTES = 256 * 1024;

/** Default most envelopes in one `SendMessageRequest` (one per destination device). */
export const DEFAULT_MAX_ENVELOPES_PER_REQUEST = 64;

/**
 * Default largest WebSocket message: room for a full send of maximal
 * envelopes would be 16 MiB, so the frame cap is the envelope cap times a
 * small factor plus protobuf overhead; sends larger than that must be split.
 */
export const DEFAULT_MAX_FRAME_BYTES = 4 * 1024 * 1024;

/** Default most members of one group (WhatsApp's limit). */
export const DEFAULT_MAX_GROUP_MEMBERS = 1024;

/**
 * Group sends and the frame limit: a `SendGroupMessageRequest` carries the
 * recipient list (~10 bytes per device: ~50 KiB for 1024 × 5 devices), one
 * ciphertext, and on a first send one pairwise distribution envelope per
 * device that lacks the sender key. Over established sessions those are
 * ~200–300 bytes each (~1.5 MiB for 5,120), well inside
 * `DEFAULT_MAX_FRAME_BYTES`; session-starting PREKEY envelopes (with PQXDH's
 * Kyber ciphertext, ~1.7 KiB) are not. A client whose request would exceed
 * the frame limit splits it: it sends the distributions in
 * `SendGroupMessageRequest`s with an empty `ciphertext` (same recipient
 * rules; they queue only the distributions), waits for each answer, and then
 * sends the ciphertext. Queues are ordered by commit, so every distribution
 * still precedes the message. Aim for this many bytes per chunk.
 */
export const GROUP_SEND_CHUNK_BYTES = 2 * 1024 * 1024;

/** Default most one-time prekeys in one upload. */
export const DEFAULT_MAX_PRE_KEYS_PER_UPLOAD = 100;

/** Default most one-time prekeys stored per device. */
export const DEFAULT_MAX_PRE_KEYS_STORED = 200;

/**
 * Default most one-time KEM prekeys (PQXDH) in one upload. Each is ~1.6 KiB
 * on the wire (a 1569-byte Kyber1024 key and its signature), so a full
 * upload stays far below `DEFAULT_MAX_FRAME_BYTES`.
 */
export const DEFAULT_MAX_KEM_PRE_KEYS_PER_UPLOAD = 100;

/** Default most one-time KEM prekeys stored per device (~330 KiB). */
export const DEFAULT_MAX_KEM_PRE_KEYS_STORED = 200;

/** Default threshold under which the server tells a device to upload more one-time prekeys. */
export const DEFAULT_PRE_KEY_LOW_THRESHOLD = 10;

/** Length of a server guid identifying one queued envelope. */
export const SERVER_GUID_LENGTH = 16;
