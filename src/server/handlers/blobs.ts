/**
 * `get_blob_credential`: a bearer token for the blob HTTP API, for the
 * authenticated device, valid about an hour on every node (see
 * blobs/blob-credential.ts for why an HMAC under a stored secret).
 */
import type { GetBlobCredentialRequest } from '../../gen/quintet/v1/transport_pb.js';
import { BLOB_CREDENTIAL_TTL_MS, issueBlobCredential } from '../blobs/blob-credential.js';
import type { ClientConnection, HandlerResult } from '../connection.js';
import type { ServerContext } from '../context.js';
import { requireDevice } from './common.js';

/** Issues a blob credential for the connection's device. */
export async function handleGetBlobCredential(
  ctx: ServerContext,
  connection: ClientConnection,
  _request: GetBlobCredentialRequest,
): Promise<HandlerResult> {
  const device = requireDevice(connection);
  const key = await ctx.blobs.credentialKey();
  const expiresAt = ctx.clock.now() + BLOB_CREDENTIAL_TTL_MS;
  return {
    body: {
      case: 'getBlobCredential',
      value: {
        token: issueBlobCredential(key, device.account, device.deviceId, expiresAt),
        expiresAt: BigInt(expiresAt),
      },
    },
  };
}
