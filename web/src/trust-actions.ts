/**
 * The trust side of a 1:1 chat: the warning that the contact's account
 * key changed (read from the store), the "Accept new key" decision, and
 * the safety number. Each needs the server except the warning; offline, a
 * notice says so and nothing changes.
 */
import {
  ClientError,
  sameBytes,
  type DeviceStore,
  type QuintetClient,
} from '../../src/sdk/browser.js';
import type { Notices } from './notices.js';
import type { KeyWarning } from './ui/conversation.js';

/** The chat contact's changed account key waiting for acceptance, if any (from the store). */
export async function keyWarning(
  store: DeviceStore,
  chat: string,
): Promise<KeyWarning | undefined> {
  const trust = await store.accountTrust.get(chat);
  if (trust?.pendingKey === undefined) return undefined;
  const pinned = await store.verifiedDevices.getAccount(chat);
  const verified =
    trust.verifiedKey !== undefined &&
    pinned !== undefined &&
    sameBytes(trust.verifiedKey, pinned.accountKey);
  return { verified };
}

/**
 * The "Accept new key" button: the user's trust decision. Resolves with
 * the new safety number's digits to show; rejects (after a notice) on failure.
 */
export async function acceptNewKey(
  client: QuintetClient | undefined,
  notices: Notices,
  chat: string,
  verified: boolean,
): Promise<string> {
  if (client === undefined) {
    notices.show('error', 'Not connected. Accepting a key needs the server.');
    throw new ClientError('transport-closed', 'not connected');
  }
  try {
    const decision = await client.trust(chat, { verified });
    notices.show('info', `Accepted ${chat}'s new account key. You can send again.`);
    return decision.safetyNumber.displayable;
  } catch (error) {
    notices.error(error);
    throw error;
  }
}

/** The safety number's digits with `chat`, or undefined (after a notice) when it cannot be had. */
export async function safetyNumberDigits(
  client: QuintetClient | undefined,
  notices: Notices,
  chat: string,
): Promise<string | undefined> {
  if (client === undefined) {
    notices.show('error', 'Not connected. The safety number needs the server.');
    return undefined;
  }
  try {
    return (await client.safetyNumber(chat)).displayable;
  } catch (error) {
    notices.error(error);
    return undefined;
  }
}
