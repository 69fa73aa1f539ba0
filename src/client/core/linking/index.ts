/**
 * Linking companions and the primary's link state. See docs/multi-device.md.
 */
export * from './approve.js';
export * from './companion.js';
export * from './errors.js';
export * from './link-state.js';
export * from './local-auth.js';
