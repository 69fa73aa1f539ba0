/**
 * `--server a,b,c`: one server URL or several (a cluster's nodes), checked
 * when the command line is parsed, (the SDK connects to the first of them that
 * answers). The list travels as its comma-separated string, the form the
 * profile stores (client/core/server-list.ts), so one URL is what it was.
 */
import { InvalidArgumentError } from 'commander';
import { ClientError, formatServerList, parseServerList } from '../sdk/values.js';

/** The server a fresh profile talks to. */
export const DEFAULT_SERVER_URL = 'http://127.0.0.1:8080';

/** The help text of `--server`. */
export function serverHelp(fallback: string): string {
  return `server URL, or several comma-separated to fail over between (default ${fallback})`;
}

/**
 * Commander's parser of `--server`: the normalised list, or a usage error
 * naming the URL that is not http(s)/ws(s).
 */
export function serverOption(value: string): string {
  try {
    return formatServerList(parseServerList(value));
  } catch (error) {
    if (ClientError.is(error, 'invalid-argument')) throw new InvalidArgumentError(error.message);
    throw error;
  }
}

/** The servers to use: `--server`, else the profile's, else `fallback`. */
export function chooseServers(
  option: string | undefined,
  stored: string,
  fallback: string,
): string {
  if (option !== undefined) return option;
  return stored !== '' ? stored : fallback;
}
