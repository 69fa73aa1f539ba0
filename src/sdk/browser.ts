/**
 * `quintet/client/browser`: the Quintet client SDK for browsers (no Node
 * imports). Open a device from an IndexedDB store (`openBrowserStore`) on
 * `browserPlatform`, and use `QuintetDevice`; see docs/sdk.md.
 *
 * @packageDocumentation
 */
export * from './common.js';
export {
  browserContext,
  browserPlatform,
  deleteBrowserStore,
  openBrowserStore,
} from './browser-platform.js';
export {
  BrowserWsTransport,
  websocketUrlForOrigin,
} from '../client/transport/browser-ws-transport.js';
export { streamCompressor } from '../client/platform/stream-compressor.js';
export { browserCrypto } from '../crypto/browser.js';
