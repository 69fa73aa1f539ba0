/**
 * Tables of the linking sessions (`PostgresLinkSessionStore`). Times are ms
 * since the epoch from the server's injected clock (not the database's), so
 * every node and the memory store agree on expiry, and tests can move time.
 * Every row has an expiry and is pruned after it.
 */

/** The migration creating the link-session tables (idempotent). */
export const LINKS_MIGRATION_SQL = `
CREATE TABLE IF NOT EXISTS link_refs (
  ref text PRIMARY KEY,
  waiter_node text NOT NULL,
  waiter_connection bigint NOT NULL,
  expires_at bigint NOT NULL,
  -- Set while an approval holds the reference (see claim/release).
  claim_id text,
  -- One live reference per waiting connection: asking again replaces it.
  CONSTRAINT link_refs_waiter UNIQUE (waiter_node, waiter_connection)
);
CREATE INDEX IF NOT EXISTS link_refs_expiry ON link_refs (expires_at);

CREATE TABLE IF NOT EXISTS link_approvals (
  -- SHA-256 of the single-use token: a database reader cannot complete a link.
  token_hash bytea PRIMARY KEY,
  account text NOT NULL,
  device_id integer NOT NULL,
  key_index integer NOT NULL,
  companion_identity_key bytea NOT NULL,
  expires_at bigint NOT NULL,
  -- Set by takeApproved; the row keeps its companion slot a little longer.
  consumed_at bigint,
  waiter_node text NOT NULL,
  waiter_connection bigint NOT NULL,
  -- The LinkApproved push while it is undelivered (cleared when taken).
  push bytea
);
CREATE INDEX IF NOT EXISTS link_approvals_account ON link_approvals (account);
CREATE INDEX IF NOT EXISTS link_approvals_expiry ON link_approvals (expires_at);
CREATE INDEX IF NOT EXISTS link_approvals_pending
  ON link_approvals (waiter_node, waiter_connection) WHERE push IS NOT NULL;

CREATE TABLE IF NOT EXISTS link_admissions (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  account text NOT NULL,
  expires_at bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS link_admissions_account ON link_admissions (account, expires_at);
CREATE INDEX IF NOT EXISTS link_admissions_expiry ON link_admissions (expires_at);
`;
