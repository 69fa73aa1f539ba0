import { createMemoryStore } from '../../src/server/store/memory.js';
import { CachedAccountStore } from '../../src/server/store/cached-accounts.js';
import { runServerStoreConformance } from './store-conformance.js';
import { runDeviceStoreConformance } from './store-conformance-devices.js';

runServerStoreConformance('memory', () => createMemoryStore());

runServerStoreConformance('memory behind the device-list cache', () => {
  const inner = createMemoryStore();
  return { ...inner, accounts: new CachedAccountStore(inner.accounts) };
});

runDeviceStoreConformance('memory', () => createMemoryStore());

runDeviceStoreConformance('memory behind the device-list cache', () => {
  const inner = createMemoryStore();
  return { ...inner, accounts: new CachedAccountStore(inner.accounts) };
});
