/**
 * PLACEHOLDER (owned by the queue/groups part, branch h/pgqueue): migration
 * 3, groups and their change chains. Replaced by the owner's version at merge.
 */

/** The group tables. */
export const GROUPS_MIGRATION_SQL = `SELECT 1;`;
