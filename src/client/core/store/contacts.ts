/**
 * Contacts: the accounts this device knows as chat partners even before it
 * holds a message with them. A companion gets them from its primary's
 * bootstrap state (docs/history.md), so its chat list shows the account's
 * chats at once, whether or not history follows. A contact carries no
 * trust: keys are still verified per device, as for any other account.
 *
 * Layout (table `contacts`): key = account name, value = one byte, where
 * the contact came from (1: the primary's bootstrap state).
 */
import type { KeyValueView } from './kv.js';

/** Table name; part of the persisted format. */
export const CONTACTS_TABLE = 'contacts';

/** Where a contact came from (the stored byte). */
export const CONTACT_FROM_BOOTSTRAP = 1;

/** Known chat partners by account name. */
export interface ContactStore {
  /** Adds `account` (idempotent). */
  add(account: string): Promise<void>;
  has(account: string): Promise<boolean>;
  /** Every contact, in name order. */
  list(): Promise<string[]>;
}

export function contactStore(view: KeyValueView): ContactStore {
  return {
    add: (account) => view.put(CONTACTS_TABLE, account, Uint8Array.of(CONTACT_FROM_BOOTSTRAP)),
    has: async (account) => (await view.get(CONTACTS_TABLE, account)) !== undefined,
    list: async () => (await view.list(CONTACTS_TABLE, '')).map((entry) => entry.key),
  };
}
