/** The in-memory sender key store passes the shared conformance suite. */
import { MemorySenderKeyStore } from '../../src/protocol/stores/sender-key-store.js';
import { runSenderKeyStoreConformance } from './sender-key-store-conformance.js';

runSenderKeyStoreConformance('memory', () => new MemorySenderKeyStore());
