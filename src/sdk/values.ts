/**
 * The SDK's light entry: checking the values an application takes from its
 * user (account names, device ids, server lists, history choices, hex ids)
 * without
 * loading the client. A command line validates its arguments with these
 * while it parses them, and loads the full SDK (index.ts) only for a
 * command that runs. Everything here is also exported by index.ts and
 * browser.ts.
 */
export { ClientError } from '../client/core/errors.js';
export type { ClientErrorCode } from '../client/core/errors.js';
export { isAccountName, parseAccountName, parseDeviceId } from './ids.js';
export type { AccountName, DeviceId } from './ids.js';
export { formatServerList, parseServerList } from '../client/core/server-list.js';
export {
  DEFAULT_HISTORY,
  parseHistoryChoice,
  type HistoryChoice,
} from '../client/core/history/history-choice.js';
export { isValidAccountName, validateAccountName } from '../wire/account-name.js';
export { WireError } from '../wire/errors.js';
export { fromHex, sameBytes, toHex } from '../client/core/bytes.js';
export { ChatError } from '../client/core/chat/errors.js';
export type { ChatErrorCode } from '../client/core/chat/errors.js';
export { parseTimer as parseChatTimer } from '../client/core/chat/chat-rules.js';
