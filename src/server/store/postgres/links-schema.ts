/**
 * PLACEHOLDER (owned by the link-sessions part): migration 4, link sessions
 * with expiry. Replaced by the owner's version at merge.
 */

/** The link-session tables. */
export const LINKS_MIGRATION_SQL = `SELECT 1;`;
