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

/** Default most one-time prekeys in one upload. */
export const DEFAULT_MAX_PRE_KEYS_PER_UPLOAD = 100;

/** Default most one-time prekeys stored per device. */
export const DEFAULT_MAX_PRE_KEYS_STORED = 200;

/** Default threshold under which the server tells a device to upload more one-time prekeys. */
export const DEFAULT_PRE_KEY_LOW_THRESHOLD = 10;

/** Length of a server guid identifying one queued envelope. */
export const SERVER_GUID_LENGTH = 16;
