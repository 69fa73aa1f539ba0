/**
 * The client's per-key serializer is the protocol's (src/protocol/keyed-queue.ts):
 * one implementation, so the session queue the client core runs per peer
 * address and the protocol's own address lock cannot behave differently.
 */
export { KeyedQueue } from '../../protocol/keyed-queue.js';
