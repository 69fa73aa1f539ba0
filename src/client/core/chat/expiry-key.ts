/**
 * The key of the `chat-expiry` index (chat/chat-store.ts): zero-padded
 * expiry ms / chat / message id hex, so key order is expiry order. 16 digits
 * hold every ms timestamp until the year 318857.
 */
import { toHex } from '../bytes.js';

export function expiryKey(expiresAt: number, chat: string, id: Uint8Array): string {
  const at = Math.max(0, Math.floor(expiresAt)).toString().padStart(16, '0');
  return `${at}/${chat}/${toHex(id)}`;
}
