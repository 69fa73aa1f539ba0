import { createMemoryStore } from '../../src/server/store/memory.js';
import { openSqliteStore } from '../../src/server/store/sqlite/index.js';
import { runGroupStoreConformance } from './store-conformance-groups.js';

runGroupStoreConformance('memory', () => createMemoryStore());
runGroupStoreConformance('sqlite', () => openSqliteStore({ path: ':memory:' }));
