/**
 * Automatic Device Verification (ADV): companion identities signed by the
 * account key, signed key-index lists, the sender-side device-list
 * validation, and the linking QR code. See docs/multi-device.md.
 */
export * from './adv-messages.js';
export * from './device-identity.js';
export * from './device-list.js';
export * from './errors.js';
export * from './link-code.js';
