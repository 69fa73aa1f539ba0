/**
 * The stored post-quantum choice (`post-quantum` settings entry): on unless
 * the device opted out, so a profile from before the setting existed, or
 * one that never changed it, gets the default.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  POST_QUANTUM_SETTING,
  postQuantumEnabled,
  setPostQuantumEnabled,
} from '../../src/client/core/post-quantum-setting.js';
import { createDeviceStore } from '../../src/client/core/store/device-store.js';
import { MemoryBackend } from '../../src/client/core/store/memory-backend.js';

describe('post-quantum setting', () => {
  it('is on when absent, off only when set off, and on again when set on', async () => {
    const store = createDeviceStore(new MemoryBackend());
    assert.equal(await store.settings.get(POST_QUANTUM_SETTING), undefined);
    assert.equal(await postQuantumEnabled(store.settings), true);
    await setPostQuantumEnabled(store.settings, false);
    assert.deepEqual([...((await store.settings.get(POST_QUANTUM_SETTING)) ?? [])], [0]);
    assert.equal(await postQuantumEnabled(store.settings), false);
    await setPostQuantumEnabled(store.settings, true);
    assert.deepEqual([...((await store.settings.get(POST_QUANTUM_SETTING)) ?? [])], [1]);
    assert.equal(await postQuantumEnabled(store.settings), true);
  });
});
