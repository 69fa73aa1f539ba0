/** PostgreSQL implementation of `SubscriberStore`. */
import type pg from 'pg';
import { text } from './rows.js';
import { query } from './sql.js';
import type { SubscriberStore } from '../types.js';

/** (account, subscriber) pairs in PostgreSQL; inserts are idempotent. */
export class PostgresSubscriberStore implements SubscriberStore {
  constructor(private readonly pool: pg.Pool) {}

  async addSubscriber(account: string, subscriber: string): Promise<void> {
    await query(
      this.pool,
      `INSERT INTO subscribers (account, subscriber) VALUES ($1, $2)
       ON CONFLICT (account, subscriber) DO NOTHING`,
      [account, subscriber],
    );
  }

  async listSubscribers(account: string): Promise<readonly string[]> {
    // Bytewise order (COLLATE "C"), as the other backends sort.
    const rows = await query(
      this.pool,
      'SELECT subscriber FROM subscribers WHERE account = $1 ORDER BY subscriber COLLATE "C"',
      [account],
    );
    return rows.map((row) => text(row, 'subscriber'));
  }
}
