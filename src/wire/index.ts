/**
 * Shared client/server wire helpers. Pure: no Node built-ins, so the browser
 * client imports the same code the server uses.
 */
export * from './errors.js';
export * from './account-name.js';
export * from './auth.js';
export * from './frame.js';
export * from './limits.js';
