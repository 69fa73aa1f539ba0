/**
 * PLACEHOLDER (owned by the queue part, branch h/pgqueue): migration 2, the
 * per-device envelope queues. Replaced by the owner's version at merge.
 */

/** The queue tables. */
export const QUEUE_MIGRATION_SQL = `SELECT 1;`;
