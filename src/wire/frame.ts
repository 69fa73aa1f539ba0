/**
 * Encoding and decoding of the one-`Frame`-per-WebSocket-message wire format
 * (proto/quintet/v1/transport.proto), plus small builders so neither side
 * assembles frames by hand.
 *
 * Decoding is the trust boundary: bytes from the network that do not parse,
 * or parse to an empty frame, become `WireError('malformed-frame')` — never
 * an untyped exception.
 */
import { create, fromBinary, toBinary, type MessageInitShape } from '@bufbuild/protobuf';
import {
  ErrorSchema,
  FrameSchema,
  PushSchema,
  RequestSchema,
  ResponseSchema,
  type Error as WireErrorMessage,
  type Frame,
  type Push,
  type Request,
  type Response,
} from '../gen/quintet/v1/transport_pb.js';
import { WireError, type ServerErrorCode } from './errors.js';

/** The `body` oneof of a request (`{ case: 'challenge', value: ... }`, ...). */
export type RequestBody = MessageInitShape<typeof RequestSchema>['body'];
/** The `body` oneof of a successful response. */
export type ResponseBody = MessageInitShape<typeof ResponseSchema>['body'];
/** The `kind` oneof of a push. */
export type PushKind = MessageInitShape<typeof PushSchema>['kind'];

/** Serializes a frame. */
export function encodeFrame(frame: Frame): Uint8Array {
  return toBinary(FrameSchema, frame);
}

/**
 * Parses one frame. Throws `WireError('malformed-frame')` when the bytes are
 * not a valid `Frame` or the frame carries nothing.
 */
export function decodeFrame(bytes: Uint8Array): Frame {
  let frame: Frame;
  try {
    frame = fromBinary(FrameSchema, bytes);
  } catch (error) {
    throw new WireError('malformed-frame', 'frame does not parse', { cause: error });
  }
  if (frame.kind.case === undefined) {
    throw new WireError('malformed-frame', 'frame carries no request, response or push');
  }
  return frame;
}

/** Builds a request frame. `id` must be unique among the sender's requests in flight. */
export function requestFrame(id: bigint, body: RequestBody): Frame {
  return create(FrameSchema, { kind: { case: 'request', value: { id, body } } });
}

/** Builds a successful response frame for request `id`. */
export function responseFrame(id: bigint, body: ResponseBody): Frame {
  return create(FrameSchema, { kind: { case: 'response', value: { id, body } } });
}

/** Extra structured fields of an error response. */
export interface ErrorDetails {
  readonly missingDevices?: readonly number[];
  readonly extraDevices?: readonly number[];
  readonly staleDevices?: readonly number[];
  readonly retryAfterMs?: number;
  /** With rate-limited / queue-full / storage-full: the stable name of the limit that was hit. */
  readonly limit?: string;
  /** Group sends: the mismatch of each account that has one. */
  readonly accountMismatches?: readonly AccountMismatchDetails[];
}

/** One account's device mismatch in a group send's error. */
export interface AccountMismatchDetails {
  readonly account: string;
  readonly missingDevices?: readonly number[];
  readonly extraDevices?: readonly number[];
  readonly staleDevices?: readonly number[];
}

/** Builds the `Error` message of a failed request. */
export function errorMessage(
  code: ServerErrorCode,
  message: string,
  details: ErrorDetails = {},
): WireErrorMessage {
  return create(ErrorSchema, {
    code,
    message,
    missingDevices: [...(details.missingDevices ?? [])],
    extraDevices: [...(details.extraDevices ?? [])],
    staleDevices: [...(details.staleDevices ?? [])],
    retryAfterMs: details.retryAfterMs ?? 0,
    limit: details.limit ?? '',
    accountMismatches: (details.accountMismatches ?? []).map((m) => ({
      account: m.account,
      missingDevices: [...(m.missingDevices ?? [])],
      extraDevices: [...(m.extraDevices ?? [])],
      staleDevices: [...(m.staleDevices ?? [])],
    })),
  });
}

/** Builds an error response frame for request `id` (0 when the request id is unknown). */
export function errorResponseFrame(
  id: bigint,
  code: ServerErrorCode,
  message: string,
  details: ErrorDetails = {},
): Frame {
  return create(FrameSchema, {
    kind: {
      case: 'response',
      value: create(ResponseSchema, { id, error: errorMessage(code, message, details) }),
    },
  });
}

/** Builds a push frame. */
export function pushFrame(kind: PushKind): Frame {
  return create(FrameSchema, { kind: { case: 'push', value: create(PushSchema, { kind }) } });
}

/** Creates a bare request message (handy when the caller tracks ids separately). */
export function makeRequest(id: bigint, body: RequestBody): Request {
  return create(RequestSchema, { id, body });
}

/** Narrowing helpers so callers avoid repeating oneof checks. */
export function frameRequest(frame: Frame): Request | undefined {
  return frame.kind.case === 'request' ? frame.kind.value : undefined;
}
/** The response inside `frame`, if it is one. */
export function frameResponse(frame: Frame): Response | undefined {
  return frame.kind.case === 'response' ? frame.kind.value : undefined;
}
/** The push inside `frame`, if it is one. */
export function framePush(frame: Frame): Push | undefined {
  return frame.kind.case === 'push' ? frame.kind.value : undefined;
}
