/**
 * Routes a request to its handler. Before authentication only challenge,
 * register, authenticate and the companion's linking requests (open and
 * complete) are served (`unauthenticated` otherwise); a body
 * this server does not know — a newer client — gets `unknown-request`.
 */
import type { Request } from '../../gen/quintet/v1/transport_pb.js';
import type { ClientConnection, HandlerResult } from '../connection.js';
import type { ServerContext } from '../context.js';
import { ServiceError } from '../errors.js';
import { handleAuthenticate, handleChallenge, handleRegister } from './auth.js';
import { handleGetBlobCredential } from './blobs.js';
import { requireDevice } from './common.js';
import {
  handleGetDevices,
  handleLogout,
  handlePublishDeviceList,
  handleRemoveDevice,
} from './devices.js';
import { handleSendGroupMessage } from './group-send.js';
import {
  handleCreateGroup,
  handleGetGroup,
  handleListGroups,
  handleUpdateGroup,
} from './groups.js';
import { handleApproveLink, handleCompleteLink, handleOpenLink } from './linking.js';
import { handleAck, handleSendMessage } from './messages.js';
import { handleGetPreKeyBundles, handlePreKeyStatus, handleUploadPreKeys } from './prekeys.js';

/** The server's `RequestDispatcher`. */
export function dispatchRequest(
  ctx: ServerContext,
  connection: ClientConnection,
  request: Request,
): HandlerResult | Promise<HandlerResult> {
  const body = request.body;
  switch (body.case) {
    case 'challenge':
      return handleChallenge(ctx, connection, body.value);
    case 'register':
      return handleRegister(ctx, connection, body.value);
    case 'authenticate':
      return handleAuthenticate(ctx, connection, body.value);
    case 'openLink':
      return handleOpenLink(ctx, connection, body.value);
    case 'completeLink':
      return handleCompleteLink(ctx, connection, body.value);
    case undefined:
      throw new ServiceError('unknown-request', 'request type not supported by this server');
    default:
      // Every other request needs an authenticated device: the switch below.
      break;
  }
  // Everything below needs an authenticated device; checked once here too.
  requireDevice(connection);
  switch (body.case) {
    case 'sendMessage':
      return handleSendMessage(ctx, connection, body.value);
    case 'ack':
      return handleAck(ctx, connection, body.value);
    case 'uploadPreKeys':
      return handleUploadPreKeys(ctx, connection, body.value);
    case 'getPreKeyBundles':
      return handleGetPreKeyBundles(ctx, connection, body.value);
    case 'preKeyStatus':
      return handlePreKeyStatus(ctx, connection, body.value);
    case 'getDevices':
      return handleGetDevices(ctx, connection, body.value);
    case 'approveLink':
      return handleApproveLink(ctx, connection, body.value);
    case 'removeDevice':
      return handleRemoveDevice(ctx, connection, body.value);
    case 'logout':
      return handleLogout(ctx, connection, body.value);
    case 'publishDeviceList':
      return handlePublishDeviceList(ctx, connection, body.value);
    case 'createGroup':
      return handleCreateGroup(ctx, connection, body.value);
    case 'updateGroup':
      return handleUpdateGroup(ctx, connection, body.value);
    case 'getGroup':
      return handleGetGroup(ctx, connection, body.value);
    case 'listGroups':
      return handleListGroups(ctx, connection, body.value);
    case 'sendGroupMessage':
      return handleSendGroupMessage(ctx, connection, body.value);
    case 'getBlobCredential':
      return handleGetBlobCredential(ctx, connection, body.value);
  }
}
