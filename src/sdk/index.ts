/**
 * `quintet/client`: the Quintet client SDK for Node. Open a device from a
 * profile directory (`openProfileStore`) or any store, on `nodePlatform`,
 * and use `QuintetDevice`; see docs/sdk.md.
 *
 * @packageDocumentation
 */
export * from './common.js';
export {
  nodeContext,
  nodePlatform,
  openProfileStore,
  profileExists,
  PROFILE_DATABASE_FILE,
} from './node-platform.js';
export { WsTransport } from '../client/transport/ws-transport.js';
export { zlibCompressor } from '../client/platform/zlib-compressor.js';
