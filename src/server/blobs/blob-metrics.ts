/**
 * Blob-store metrics for `/metrics`: bytes stored, uploads and downloads,
 * refusals by reason (a fixed vocabulary, so bounded cardinality).
 */

/** Why a blob request was refused. */
export type BlobRefusal =
  | 'unauthorized'
  | 'blob-too-large'
  | 'quota-exceeded'
  | 'too-many-uploads'
  | 'bad-request'
  | 'not-found'
  | 'incomplete-body'
  | 'unavailable';

const REFUSALS: readonly BlobRefusal[] = [
  'unauthorized',
  'blob-too-large',
  'quota-exceeded',
  'too-many-uploads',
  'bad-request',
  'not-found',
  'incomplete-body',
  'unavailable',
];

/** Counters the blob routes increment. */
export class BlobMetrics {
  uploads = 0;
  uploadedBytes = 0;
  downloads = 0;
  downloadedBytes = 0;
  deletes = 0;
  expired = 0;
  readonly refusals = new Map<BlobRefusal, number>(REFUSALS.map((r) => [r, 0]));

  /** Counts one refused request. */
  refused(reason: BlobRefusal): void {
    this.refusals.set(reason, (this.refusals.get(reason) ?? 0) + 1);
  }

  /** The Prometheus text for these counters plus the gauges read elsewhere. */
  render(storedBytes: number, uploadsInProgress: number): string {
    const lines: string[] = [];
    const metric = (name: string, type: string, help: string, value: number): void => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, `${name} ${value}`);
    };
    metric('quintet_blob_bytes_stored', 'gauge', 'Bytes of stored blobs.', storedBytes);
    metric(
      'quintet_blob_uploads_in_progress',
      'gauge',
      'Blob uploads being received by this node.',
      uploadsInProgress,
    );
    metric('quintet_blob_uploads_total', 'counter', 'Blobs uploaded completely.', this.uploads);
    metric(
      'quintet_blob_uploaded_bytes_total',
      'counter',
      'Bytes of completed uploads.',
      this.uploadedBytes,
    );
    metric('quintet_blob_downloads_total', 'counter', 'Blob downloads started.', this.downloads);
    metric(
      'quintet_blob_downloaded_bytes_total',
      'counter',
      'Blob bytes sent.',
      this.downloadedBytes,
    );
    metric(
      'quintet_blob_deletes_total',
      'counter',
      'Blobs deleted by their uploader.',
      this.deletes,
    );
    metric('quintet_blob_expired_total', 'counter', 'Blobs deleted at expiry.', this.expired);
    lines.push(
      '# HELP quintet_blob_refusals_total Blob requests refused, by reason.',
      '# TYPE quintet_blob_refusals_total counter',
    );
    for (const [reason, count] of this.refusals)
      lines.push(`quintet_blob_refusals_total{reason="${reason}"} ${count}`);
    return `${lines.join('\n')}\n`;
  }
}
