/**
 * The primary's link state: the random id of the account-key epoch, the
 * next key index to hand out, the companions still vouched for, and the
 * latest signed key-index list. The primary builds every new list from this
 * local state rather than from what the server serves, because the server is
 * not trusted with the device set (a list re-signed from server data would
 * let the server slip a device back in).
 */
import type { ProtocolContext } from '../../../protocol/context.js';
import type { KeyPair } from '../../../protocol/curve.js';
import { createSignedKeyIndexList } from '../../../protocol/adv/index.js';
import type { PrimaryLinkState } from '../store/records.js';

/** The primary's own key index (companions get 1, 2, …). */
export const PRIMARY_KEY_INDEX = 0;

/** A random 32-bit epoch id (`rawId`) from the context's random source. */
export function newRawId(ctx: ProtocolContext): number {
  const bytes = ctx.random(4);
  return new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0, false);
}

/**
 * The timestamp (seconds) of the next list: now, but always strictly after
 * the previous one. Senders refuse a list older than one they have seen
 * (rollback guard, validation step 2), so a clock that stepped back, or two
 * changes within one second, must still produce a newer list.
 */
export function nextListTimestamp(state: PrimaryLinkState | undefined, nowMs: number): number {
  const now = Math.floor(nowMs / 1000);
  return state === undefined ? now : Math.max(now, state.listTimestamp + 1);
}

/** A freshly signed key-index list. */
export interface SignedList {
  /** `ADVSignedKeyIndexList` bytes. */
  readonly signedKeyIndexList: Uint8Array;
  /** Its timestamp, seconds. */
  readonly listTimestamp: number;
}

/**
 * Signs a new `ADVKeyIndexList` naming `validIndexes`, newer than the one in
 * `state`. `currentIndex` is the highest index ever handed out
 * (`nextKeyIndex - 1`), not just the highest valid one: senders keep devices
 * whose index is above `currentIndex` (validation step 3), so a lower value
 * would let a removed companion with a high index back in.
 */
export async function signKeyIndexList(
  ctx: ProtocolContext,
  accountKeyPair: KeyPair,
  state: PrimaryLinkState,
  validIndexes: readonly number[],
): Promise<SignedList> {
  const listTimestamp = nextListTimestamp(state, ctx.clock.now());
  const signedKeyIndexList = await createSignedKeyIndexList(ctx, {
    accountKeyPair,
    rawId: state.rawId,
    timestamp: listTimestamp,
    currentIndex: Math.max(PRIMARY_KEY_INDEX, state.nextKeyIndex - 1),
    validIndexes,
  });
  return { signedKeyIndexList, listTimestamp };
}

/**
 * A fresh epoch for a new account key: random `rawId`, no companions, and
 * the first list (primary only: `currentIndex` 0, no valid indexes) that
 * registration publishes.
 */
export async function initialLinkState(
  ctx: ProtocolContext,
  accountKeyPair: KeyPair,
): Promise<PrimaryLinkState> {
  const empty: PrimaryLinkState = {
    rawId: newRawId(ctx),
    nextKeyIndex: PRIMARY_KEY_INDEX + 1,
    signedKeyIndexList: new Uint8Array(0),
    listTimestamp: 0,
    companions: {},
  };
  return { ...empty, ...(await signKeyIndexList(ctx, accountKeyPair, empty, [])) };
}
