/**
 * `--server a,b,c`: one server URL or several (a cluster's nodes), checked
 * when the command line is parsed, and the connection to the first of them
 * that answers. The list travels as its comma-separated string, the form the
 * profile stores (client/core/server-list.ts), so one URL is what it was.
 */
import { InvalidArgumentError } from 'commander';
import { ClientError } from '../client/core/errors.js';
import { formatServerList, parseServerList } from '../client/core/server-list.js';
import { WsTransport } from '../client/transport/ws-transport.js';

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

/**
 * Connects to the first server of `servers` (a comma-separated list) that
 * can be reached, in order. When none can, the last failure is thrown.
 */
export async function connectFirst(
  servers: string,
): Promise<{ transport: WsTransport; server: string }> {
  let lastError: unknown;
  for (const server of parseServerList(servers)) {
    try {
      return { transport: await WsTransport.connect(server), server };
    } catch (error) {
      if (!ClientError.is(error, 'connect-failed')) throw error;
      lastError = error;
    }
  }
  throw lastError;
}
