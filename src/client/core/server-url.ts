/**
 * Server URLs as users write them (`http://host:8080`, `https://chat.example`,
 * `ws://…`) mapped to the WebSocket endpoint. Shared by every transport so a
 * page served over TLS, or a CLI given an https URL, never opens a plaintext
 * socket.
 */
import { WEBSOCKET_PATH } from '../../wire/limits.js';
import { ClientError } from './errors.js';

/**
 * The WebSocket URL for a server URL: http→ws, https→wss, the default path
 * when none is given; query and fragment dropped. Throws
 * `ClientError('invalid-argument')` for anything that is not http(s)/ws(s).
 */
export function websocketUrl(serverUrl: string): string {
  let url: URL;
  try {
    url = new URL(serverUrl);
  } catch (error) {
    throw new ClientError('invalid-argument', 'the server URL does not parse', { cause: error });
  }
  if (url.protocol === 'http:') url.protocol = 'ws:';
  else if (url.protocol === 'https:') url.protocol = 'wss:';
  else if (url.protocol !== 'ws:' && url.protocol !== 'wss:') {
    throw new ClientError('invalid-argument', 'the server URL must be http(s) or ws(s)');
  }
  if (url.pathname === '/' || url.pathname === '') url.pathname = WEBSOCKET_PATH;
  url.search = '';
  url.hash = '';
  return url.toString();
}
