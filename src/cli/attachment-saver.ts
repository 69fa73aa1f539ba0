/**
 * `receive`'s output queue: message lines are printed in arrival order, and
 * a message with an attachment only after its file was downloaded and
 * verified (its line then names the path). One download at a time, so
 * progress bars do not overlap. A failed download prints the message with
 * the failure, a stderr line, and makes the command exit non-zero.
 */
import { type BlobClient, type StoredMessage, toHex } from '../sdk/index.js';
import { describeError } from './cli-error.js';
import { saveAttachment, type CredentialSource, sessionBlobs } from './attachment-transfer.js';
import { terminalText } from './terminal-text.js';

/** What a line says about the message's attachment. */
export type SavedAttachment = { readonly path: string } | { readonly error: string };

export class AttachmentSaver {
  #chain: Promise<void> = Promise.resolve();
  #blobs: BlobClient | undefined;
  failures = 0;

  constructor(
    private readonly credentials: CredentialSource,
    private readonly serverUrl: () => string,
    private readonly dir: string,
    private readonly print: (message: StoredMessage, saved?: SavedAttachment) => void,
  ) {}

  /** Queues a message for printing (after its download, if it has a file). */
  add(message: StoredMessage): void {
    this.#chain = this.#chain.then(() => this.#handle(message));
  }

  /** Resolves once every queued message is printed. */
  settled(): Promise<void> {
    return this.#chain;
  }

  async #handle(message: StoredMessage): Promise<void> {
    const attachment = message.attachment;
    if (attachment === undefined) {
      this.print(message);
      return;
    }
    this.#blobs ??= sessionBlobs(this.credentials, this.serverUrl());
    try {
      const path = await saveAttachment(this.#blobs, attachment, this.dir);
      this.print(message, { path });
    } catch (error) {
      this.failures++;
      const line = describeError(error);
      this.print(message, { error: line });
      process.stderr.write(
        `${terminalText(`quintet: the attachment of message ${toHex(message.id)} was not saved: ${line}`)}\n`,
      );
    }
  }
}
