/** The memory backend against the shared protocol store conformance suite. */
import { nodeCrypto } from '../../src/crypto/node.js';
import { generateSigningKeyPair } from '../../src/protocol/curve.js';
import { createMemoryStores } from '../../src/protocol/stores/memory.js';
import { runProtocolStoreConformance } from './store-conformance.js';

runProtocolStoreConformance('memory', async () =>
  createMemoryStores(
    await generateSigningKeyPair(nodeCrypto, (n) => nodeCrypto.randomBytes(n)),
    4242,
  ),
);
