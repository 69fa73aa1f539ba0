/** Device listing: the directory senders use to build their fanout. */
import type { GetDevicesRequest } from '../../gen/quintet/v1/transport_pb.js';
import type { ClientConnection, HandlerResult } from '../connection.js';
import type { ServerContext } from '../context.js';
import { ServiceError } from '../errors.js';
import { requireAccountName, requireDevice } from './common.js';

/** Every device of an account with its public identity key and registration id. */
export async function handleGetDevices(
  ctx: ServerContext,
  connection: ClientConnection,
  request: GetDevicesRequest,
): Promise<HandlerResult> {
  requireDevice(connection);
  const account = requireAccountName(request.account);
  const devices = await ctx.store.accounts.listDevices(account);
  if (devices === undefined) throw new ServiceError('unknown-account', 'no such account');
  return {
    body: {
      case: 'getDevices',
      value: {
        devices: devices.map((d) => ({
          deviceId: d.deviceId,
          registrationId: d.registrationId,
          identityKey: d.identityKey,
          name: d.name,
          createdAt: BigInt(d.createdAt),
          lastSeenAt: BigInt(d.lastSeenAt),
        })),
      },
    },
  };
}
