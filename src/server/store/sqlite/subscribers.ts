/** SQLite implementation of `SubscriberStore`. */
import type { Database, Statement } from 'better-sqlite3';
import type { GroupCommitter } from './group-commit.js';
import { asRow, text } from './rows.js';
import type { SubscriberStore } from '../types.js';

/** (account, subscriber) pairs in SQLite; inserts are idempotent. */
export class SqliteSubscriberStore implements SubscriberStore {
  private readonly insert: Statement;
  private readonly select: Statement;

  constructor(
    db: Database,
    private readonly committer: GroupCommitter,
    private readonly checkOpen: () => void,
  ) {
    this.insert = db.prepare(
      'INSERT OR IGNORE INTO subscribers (account, subscriber) VALUES (?, ?)',
    );
    this.select = db.prepare(
      'SELECT subscriber FROM subscribers WHERE account = ? ORDER BY subscriber',
    );
  }

  addSubscriber(account: string, subscriber: string): Promise<void> {
    return this.committer.submit(
      () => {
        this.insert.run(account, subscriber);
      },
      { savepoint: false },
    );
  }

  async listSubscribers(account: string): Promise<readonly string[]> {
    this.checkOpen();
    return this.select.all(account).map((row) => text(asRow(row), 'subscriber'));
  }
}
