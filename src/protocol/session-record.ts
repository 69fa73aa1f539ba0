/**
 * Everything we know about sessions with one remote device (libsignal
 * `state/session.rs` `SessionRecord`): the current state plus up to
 * `MAX_ARCHIVED_STATES` older ones, newest first. Older states stay because
 * messages sent under them may still be in flight (both sides started a
 * session at once, or the peer re-initiated); a message that decrypts under
 * an archived state promotes it back to current.
 *
 * Storage format: `RecordStructure` in proto/quintet/protocol/storage.proto.
 */
import { bytesEqual } from './bytes.js';
import { ProtocolError } from './errors.js';
import { SessionState } from './session-state.js';
import { asBytes, asUint32, ProtoReader, ProtoWriter } from './wire.js';

/** libsignal `ARCHIVED_STATES_MAX_LENGTH`. */
export const MAX_ARCHIVED_STATES = 40;
/** Version of the `RecordStructure` layout, for future migrations. */
export const SESSION_RECORD_FORMAT = 1;

const REDACTED = '[SessionRecord]';
const INSPECT = Symbol.for('nodejs.util.inspect.custom');

/** A session record. Mutable; stores hand out fresh copies on every load. */
export class SessionRecord {
  #current: SessionState | undefined;
  #previous: SessionState[];

  private constructor(current: SessionState | undefined, previous: SessionState[]) {
    this.#current = current;
    this.#previous = previous;
  }

  /** An empty record (no session yet). */
  static empty(): SessionRecord {
    return new SessionRecord(undefined, []);
  }

  /** The current state, if any. */
  get current(): SessionState | undefined {
    return this.#current;
  }

  /** The archived states, newest first (read-only view). */
  get previous(): readonly SessionState[] {
    return this.#previous;
  }

  /** True when the current state can encrypt. */
  hasOpenSession(): boolean {
    return this.#current?.hasSenderChain === true;
  }

  /** Makes `state` current, archiving the old current state (libsignal `promote_state`). */
  promoteState(state: SessionState): void {
    this.archiveCurrentState();
    this.#current = state;
  }

  /** Moves the current state to the front of the archive, trimming the oldest. */
  archiveCurrentState(): void {
    if (this.#current === undefined) return;
    this.#previous.unshift(this.#current);
    this.#current = undefined;
    if (this.#previous.length > MAX_ARCHIVED_STATES) this.#previous.length = MAX_ARCHIVED_STATES;
  }

  /** Promotes the archived state at `index` (a message decrypted under it). */
  promoteArchivedState(index: number): void {
    const [state] = this.#previous.splice(index, 1);
    if (state === undefined)
      throw new ProtocolError('invalid-state', 'no archived state at that index');
    this.promoteState(state);
  }

  /**
   * Finds the state a responder made for an initiator's base key and identity
   * (libsignal `promote_matching_session`, which also matches the session
   * version): -1 for current, else the archive index, undefined when none
   * matches. Without `version`, a state of any version matches.
   */
  findByBaseKey(
    baseKey: Uint8Array,
    remoteIdentity: Uint8Array,
    version?: number,
  ): number | undefined {
    const matches = (s: SessionState): boolean =>
      (version === undefined || s.sessionVersion === version) &&
      bytesEqual(s.aliceBaseKey, baseKey) &&
      bytesEqual(s.remoteIdentityKey, remoteIdentity);
    if (this.#current !== undefined && matches(this.#current)) return -1;
    const index = this.#previous.findIndex(matches);
    return index < 0 ? undefined : index;
  }

  /** Serializes the record (`RecordStructure`). */
  serialize(): Uint8Array {
    const current = this.#current;
    const previous = this.#previous;
    return ProtoWriter.encode((w) => {
      w.uint(1, SESSION_RECORD_FORMAT);
      if (current !== undefined) w.message(2, (m) => current.encode(m));
      for (const state of previous) w.message(3, (m) => state.encode(m));
    });
  }

  /** Parses a stored record; `ProtocolError('invalid-state')` on anything malformed. */
  static deserialize(bytes: Uint8Array): SessionRecord {
    if (!(bytes instanceof Uint8Array))
      throw new ProtocolError('invalid-state', 'session record must be bytes');
    const r: ProtoReader = new ProtoReader(bytes, 'invalid-state');
    let format: number | undefined;
    let current: SessionState | undefined;
    const previous: SessionState[] = [];
    while (r.more) {
      const f = r.next();
      switch (f.field) {
        case 1:
          format = asUint32(r, f);
          break;
        case 2:
          current = SessionState.deserialize(asBytes(r, f));
          break;
        case 3:
          previous.push(SessionState.deserialize(asBytes(r, f)));
          break;
        default:
          break;
      }
    }
    if (format !== SESSION_RECORD_FORMAT)
      r.fail(`unsupported session record format ${String(format)}`);
    if (previous.length > MAX_ARCHIVED_STATES) r.fail('too many archived states');
    return new SessionRecord(current, previous);
  }

  /** A placeholder: a session record is secret. */
  toString(): string {
    return REDACTED;
  }

  /** A placeholder: a session record is secret. */
  toJSON(): string {
    return REDACTED;
  }

  /** A placeholder for `util.inspect`. */
  [INSPECT](): string {
    return REDACTED;
  }
}
