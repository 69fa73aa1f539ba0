/**
 * Several server URLs for one device: a cluster's nodes, or a server and its
 * standby. Written as one comma-separated string (`--server a,b,c`, and the
 * profile's `serverUrl` field, so a profile written before lists existed —
 * one URL — reads as a list of one).
 */
import { ClientError } from './errors.js';
import { websocketUrl } from './server-url.js';

/**
 * The URLs of `input` (a comma-separated string or a list of them), in
 * order, blanks and exact repeats dropped. Every entry must be an
 * http(s)/ws(s) URL: a typo in the third URL must fail now, naming it, not
 * minutes later when the first two nodes are down.
 */
export function parseServerList(input: string | readonly string[]): string[] {
  const parts = (typeof input === 'string' ? [input] : input).flatMap((part) => part.split(','));
  const urls: string[] = [];
  for (const raw of parts) {
    const url = raw.trim();
    if (url === '') continue;
    try {
      websocketUrl(url);
    } catch (error) {
      throw new ClientError(
        'invalid-argument',
        `invalid server URL "${url}": expected an http(s) or ws(s) URL`,
        { cause: error },
      );
    }
    if (!urls.includes(url)) urls.push(url);
  }
  if (urls.length === 0) throw new ClientError('invalid-argument', 'no server URL given');
  return urls;
}

/** The stored form of a server list (see `parseServerList`). */
export function formatServerList(urls: readonly string[]): string {
  return urls.join(',');
}
