/**
 * The PostgreSQL tables of groups (one migration of the numbered list in
 * migrations.ts; unqualified names, the runner sets `search_path`): the
 * head of each group, its signed change chain kept byte for byte (members
 * verify signatures and hashes over it), and its membership.
 */
export const GROUPS_MIGRATION_SQL = `
  CREATE TABLE groups (
    group_id bytea PRIMARY KEY,
    version integer NOT NULL,
    head_hash bytea NOT NULL,
    -- The account the head change removed: it may still read the chain.
    removed text
  );
  CREATE TABLE group_changes (
    group_id bytea NOT NULL REFERENCES groups (group_id),
    version integer NOT NULL,
    signed_change bytea NOT NULL,
    PRIMARY KEY (group_id, version)
  );
  CREATE TABLE group_members (
    group_id bytea NOT NULL REFERENCES groups (group_id),
    account text NOT NULL,
    admin boolean NOT NULL,
    PRIMARY KEY (group_id, account)
  );
  CREATE INDEX group_members_by_account ON group_members (account, group_id);
`;
