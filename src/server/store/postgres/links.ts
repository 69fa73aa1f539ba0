/**
 * Linking sessions in PostgreSQL, shared by every node of a cluster: the
 * companion may wait on one node while the primary approves through another
 * (tables: links-schema.ts). Each operation is one statement (or one short
 * transaction), so its check and its change cannot be split by another node:
 *
 * - `claim` is a conditional UPDATE (`claim_id IS NULL`): of two approvals
 *   of one reference, on any nodes, exactly one gets the row.
 * - `admit` counts and records an in-flight approval under a per-account
 *   transaction-scoped advisory lock. Why a row per in-flight approval
 *   rather than a check when the device is added: the check must happen
 *   before a device id is reserved and the signed list is stored (an
 *   approval refused afterwards would leave the primary's new list naming a
 *   companion that can never exist), and the rows carry an expiry, so a node
 *   dying mid-approval frees its slot by itself.
 * - `takeApproved` and `takePushes` are UPDATEs that only match rows not yet
 *   taken, so a token completes once and a push is taken once, cluster-wide.
 *
 * Tokens are stored as their SHA-256, so a database reader cannot complete a
 * link. The one exception is a push filed for a waiter on another node: it
 * carries the token until the waiter's node takes it (normally within one
 * poll, ~2 s) or the waiter goes away, and even with it, completing also
 * needs the companion's identity key (handlers/linking.ts).
 */
import { createHash, randomBytes } from 'node:crypto';
import type pg from 'pg';
import { systemClock } from '../../../crypto/provider.js';
import { DEFAULT_LIMITS } from '../../config.js';
import {
  ADMISSION_TTL_MS,
  CLAIM_LEASE_MS,
  COMPLETION_GRACE_MS,
  LINK_TOKEN_LENGTH,
  expiredLink,
  expiredToken,
  newRef,
  tooManyCompanions,
  unknownLink,
  unknownToken,
  type ApprovedLink,
  type ClaimedLink,
  type FiledApproval,
  type LinkAdmission,
  type LinkSessionStore,
  type LinkWaiter,
  type OpenedLink,
  type PendingLinkPush,
} from '../../linking/link-sessions.js';
import type { LinkSessionOptions } from '../../linking/memory-link-sessions.js';
import { mapPgError } from './errors.js';
import { blob, int, text } from './rows.js';
import { lockForTransaction } from './sql.js';

/** How often `open` also prunes expired rows (they are refused anyway; this bounds the tables). */
const PRUNE_EVERY_MS = 60_000;

function sha256(bytes: Uint8Array): Buffer {
  return createHash('sha256').update(bytes).digest();
}

/** Rethrows a database failure typed: a lost connection is `StoreError('unavailable')`. */
function storeFailure(error: unknown): never {
  throw mapPgError(error);
}

/** `LinkSessionStore` on a PostgreSQL pool whose search path holds the link tables. */
export class PostgresLinkSessionStore implements LinkSessionStore {
  private readonly options: LinkSessionOptions;
  private lastPrune = 0;

  constructor(
    private readonly pool: pg.Pool,
    options: Partial<LinkSessionOptions> = {},
  ) {
    this.options = {
      clock: options.clock ?? systemClock,
      random: options.random ?? ((n: number) => new Uint8Array(randomBytes(n))),
      refTtlMs: options.refTtlMs ?? DEFAULT_LIMITS.linkRefTtlMs,
      completeTtlMs: options.completeTtlMs ?? DEFAULT_LIMITS.linkCompleteTtlMs,
    };
  }

  async open(waiter: LinkWaiter): Promise<OpenedLink> {
    const now = this.options.clock.now();
    if (now - this.lastPrune >= PRUNE_EVERY_MS) {
      this.lastPrune = now;
      await this.prune();
    }
    const ref = newRef(this.options.random);
    const expiresAt = now + this.options.refTtlMs;
    // One statement: the waiter's previous reference (claimed or not) is
    // replaced, so its old QR code stops working.
    await this.query(
      `INSERT INTO link_refs (ref, waiter_node, waiter_connection, expires_at)
       VALUES ($1, $2, $3, $4)
       ON CONFLICT ON CONSTRAINT link_refs_waiter
       DO UPDATE SET ref = EXCLUDED.ref, expires_at = EXCLUDED.expires_at, claim_id = NULL`,
      [ref, waiter.nodeId, waiter.connectionId, expiresAt],
    );
    return { ref, expiresAt };
  }

  async claim(ref: string): Promise<ClaimedLink> {
    const claimId = Buffer.from(this.options.random(16)).toString('hex');
    const { rows } = await this.query(
      `UPDATE link_refs SET claim_id = $2 WHERE ref = $1 AND claim_id IS NULL
       RETURNING waiter_node, waiter_connection, expires_at`,
      [ref, claimId],
    );
    const row = rows[0];
    if (row === undefined) throw unknownLink();
    const expiresAt = int(row, 'expires_at');
    if (expiresAt <= this.options.clock.now()) {
      await this.query('DELETE FROM link_refs WHERE ref = $1 AND claim_id = $2', [ref, claimId]);
      throw expiredLink();
    }
    const waiter = {
      nodeId: text(row, 'waiter_node'),
      connectionId: int(row, 'waiter_connection'),
    };
    return { ref, waiter, expiresAt, claimId };
  }

  async release(claimed: ClaimedLink): Promise<void> {
    await this.query('UPDATE link_refs SET claim_id = NULL WHERE ref = $1 AND claim_id = $2', [
      claimed.ref,
      claimed.claimId,
    ]);
  }

  async isHeld(claimed: ClaimedLink): Promise<boolean> {
    const { rows } = await this.query('SELECT 1 FROM link_refs WHERE ref = $1 AND claim_id = $2', [
      claimed.ref,
      claimed.claimId,
    ]);
    return rows.length > 0;
  }

  async admit(
    account: string,
    linkedDeviceIds: readonly number[],
    maxCompanions: number,
  ): Promise<LinkAdmission> {
    const now = this.options.clock.now();
    const client = await this.pool.connect().catch(storeFailure);
    let id: string | undefined;
    try {
      await client.query('BEGIN');
      // Serializes admissions of one account across nodes; other accounts
      // and every other link operation go on in parallel.
      await lockForTransaction(client, `quintet:link-admission:${account}`);
      const { rows } = await client.query<Record<string, unknown>>(
        `SELECT
           (SELECT count(*) FROM link_admissions WHERE account = $1 AND expires_at > $2)
         + (SELECT count(*) FROM link_approvals WHERE account = $1 AND (
             (consumed_at IS NULL AND expires_at > $2)
             OR (consumed_at > $3 AND NOT (device_id = ANY($4::integer[])))
           )) AS pending`,
        [account, now, now - COMPLETION_GRACE_MS, linkedDeviceIds],
      );
      const pending = int(rows[0] ?? { pending: 0 }, 'pending');
      if (linkedDeviceIds.length + pending >= maxCompanions) {
        await client.query('ROLLBACK');
      } else {
        const inserted = await client.query<Record<string, unknown>>(
          'INSERT INTO link_admissions (account, expires_at) VALUES ($1, $2) RETURNING id',
          [account, now + ADMISSION_TTL_MS],
        );
        id = String(int(inserted.rows[0] ?? {}, 'id'));
        await client.query('COMMIT');
      }
    } catch (error) {
      // A client whose transaction failed midway is discarded, not reused.
      client.release(error instanceof Error ? error : true);
      storeFailure(error);
    }
    client.release();
    if (id === undefined) throw tooManyCompanions(maxCompanions);
    const admitted = id;
    return {
      end: async () => {
        await this.query('DELETE FROM link_admissions WHERE id = $1', [admitted]);
      },
    };
  }

  async approve(
    claimed: ClaimedLink,
    link: Omit<ApprovedLink, 'expiresAt'>,
    pushFor?: (token: Uint8Array) => Uint8Array,
  ): Promise<FiledApproval> {
    const token = this.options.random(LINK_TOKEN_LENGTH);
    const expiresAt = this.options.clock.now() + this.options.completeTtlMs;
    const push = pushFor?.(token);
    await this.query(
      `WITH used AS (DELETE FROM link_refs WHERE ref = $1 AND claim_id = $2)
       INSERT INTO link_approvals (token_hash, account, device_id, key_index,
         companion_identity_key, expires_at, waiter_node, waiter_connection, push)
       VALUES ($3, $4, $5, $6, $7, $8, $9, $10, $11)`,
      [
        claimed.ref,
        claimed.claimId,
        sha256(token),
        link.account,
        link.deviceId,
        link.keyIndex,
        Buffer.from(link.companionIdentityKey),
        expiresAt,
        claimed.waiter.nodeId,
        claimed.waiter.connectionId,
        push === undefined ? null : Buffer.from(push),
      ],
    );
    return { token, expiresAt };
  }

  async takeApproved(token: Uint8Array): Promise<ApprovedLink> {
    const now = this.options.clock.now();
    // Kept, consumed, until its device shows up in the account (see `admit`).
    const { rows } = await this.query(
      `UPDATE link_approvals SET consumed_at = $2, push = NULL
       WHERE token_hash = $1 AND consumed_at IS NULL
       RETURNING account, device_id, key_index, companion_identity_key, expires_at`,
      [sha256(token), now],
    );
    const row = rows[0];
    if (row === undefined) throw unknownToken();
    const expiresAt = int(row, 'expires_at');
    if (expiresAt <= now) throw expiredToken();
    return {
      account: text(row, 'account'),
      deviceId: int(row, 'device_id'),
      keyIndex: int(row, 'key_index'),
      companionIdentityKey: blob(row, 'companion_identity_key'),
      expiresAt,
    };
  }

  async takePushes(nodeId: string, connectionIds: readonly number[]): Promise<PendingLinkPush[]> {
    if (connectionIds.length === 0) return [];
    // The rows are locked as they are read, so a concurrent take of the
    // same waiter gets none of them: each push leaves the table once.
    const { rows } = await this.query(
      `WITH pending AS (
         SELECT token_hash, waiter_connection, push, expires_at FROM link_approvals
         WHERE waiter_node = $1 AND waiter_connection = ANY($2::bigint[])
           AND push IS NOT NULL AND consumed_at IS NULL AND expires_at > $3
         FOR UPDATE SKIP LOCKED)
       UPDATE link_approvals a SET push = NULL FROM pending p
       WHERE a.token_hash = p.token_hash
       RETURNING p.waiter_connection, p.push, p.expires_at`,
      [nodeId, connectionIds, this.options.clock.now()],
    );
    return rows.map((row) => ({
      connectionId: int(row, 'waiter_connection'),
      push: blob(row, 'push'),
      expiresAt: int(row, 'expires_at'),
    }));
  }

  async dropConnection(waiter: LinkWaiter): Promise<void> {
    await this.query(
      `WITH dropped AS (
         DELETE FROM link_refs WHERE waiter_node = $1 AND waiter_connection = $2)
       UPDATE link_approvals SET push = NULL
       WHERE waiter_node = $1 AND waiter_connection = $2 AND push IS NOT NULL`,
      [waiter.nodeId, waiter.connectionId],
    );
  }

  async dropNode(nodeId: string): Promise<void> {
    await this.query(
      `WITH dropped AS (DELETE FROM link_refs WHERE waiter_node = $1)
       UPDATE link_approvals SET push = NULL WHERE waiter_node = $1 AND push IS NOT NULL`,
      [nodeId],
    );
  }

  async prune(): Promise<number> {
    const now = this.options.clock.now();
    const { rows } = await this.query(
      `WITH r AS (
         DELETE FROM link_refs
         WHERE (claim_id IS NULL AND expires_at <= $1) OR expires_at <= $2 RETURNING 1),
       a AS (
         DELETE FROM link_approvals
         WHERE (consumed_at IS NULL AND expires_at <= $1) OR consumed_at <= $3 RETURNING 1),
       m AS (DELETE FROM link_admissions WHERE expires_at <= $1 RETURNING 1)
       SELECT (SELECT count(*) FROM r) + (SELECT count(*) FROM a) + (SELECT count(*) FROM m) AS n`,
      [now, now - CLAIM_LEASE_MS, now - COMPLETION_GRACE_MS],
    );
    return int(rows[0] ?? { n: 0 }, 'n');
  }

  private query(sql: string, values: unknown[]): Promise<pg.QueryResult<Record<string, unknown>>> {
    return this.pool.query<Record<string, unknown>>(sql, values).catch(storeFailure);
  }
}
