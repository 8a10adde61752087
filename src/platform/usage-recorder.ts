import type { UsageRecord, UsageStore } from '../store/usage-store.js';
import type { UsageJournal } from './usage-journal.js';

export interface UsageRecorderOptions {
  flushIntervalMs: number;
  batchSize: number;
  onError?: (error: unknown, what: string) => void;
  /** Where each record is made durable before its call's answer completes (see usage-journal.ts). */
  journal?: UsageJournal;
}

/** Records kept when the store cannot be written, before the oldest are dropped (and said so). */
const MAX_BACKLOG = 200_000;

/**
 * Usage records go into a queue on the request path (no await, no I/O) and reach the store in
 * batches: every `flushIntervalMs`, when a batch fills, and at shutdown. A failed write is retried
 * with the next batch.
 */
export class UsageRecorder {
  private queue: UsageRecord[] = [];
  private writing: Promise<void> | undefined;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly store: UsageStore,
    private readonly options: UsageRecorderOptions,
  ) {
    this.timer = setInterval(() => void this.flush(), options.flushIntervalMs);
    this.timer.unref();
  }

  /**
   * Queues a record for the store. With a journal, the promise settles once the record's line is
   * written (a failed write is reported, not thrown: the record is still queued for the store).
   */
  record(record: UsageRecord): Promise<void> | undefined {
    const journaled = this.options.journal?.append(record).catch((error: unknown) => this.options.onError?.(error, 'writing the usage journal'));
    this.queue.push(record);
    if (this.queue.length >= this.options.batchSize && !this.writing) void this.flush();
    return journaled;
  }

  get pending(): number {
    return this.queue.length;
  }

  /** `created_at` (epoch ms) of the oldest record not yet written, for the writer-lag metric. */
  get oldestPendingAt(): number | undefined {
    return this.queue[0]?.created_at;
  }

  /** Writes everything queued so far (waiting for a write already under way first). */
  async flush(): Promise<void> {
    while (this.writing) await this.writing;
    if (this.queue.length === 0) return;
    const batch = this.queue;
    this.queue = [];
    let sequence: number | undefined;
    try {
      sequence = this.options.journal?.rotate();
    } catch (error) {
      // The journal's bookkeeping failing must not stop the batch: its lines stay until a later one.
      this.options.onError?.(error, 'rotating the usage journal');
    }
    this.writing = this.store
      .insertBatch(batch)
      .then(
        () => {
          try {
            if (sequence !== undefined) this.options.journal?.written(sequence);
          } catch (error) {
            this.options.onError?.(error, 'cleaning the usage journal');
          }
        },
        (error: unknown) => {
          this.queue = [...batch, ...this.queue];
          if (this.queue.length > MAX_BACKLOG) {
            const dropped = this.queue.length - MAX_BACKLOG;
            this.queue = this.queue.slice(dropped);
            this.options.onError?.(new Error(`${dropped} usage records dropped: the store has been failing`), 'writing usage');
          }
          this.options.onError?.(error, 'writing usage');
        },
      )
      .finally(() => (this.writing = undefined));
    await this.writing;
  }

  closeJournal(): void {
    this.options.journal?.close();
  }

  /** Stops the timer and writes what is left, trying a few times. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    for (let attempt = 0; attempt < 5 && (this.queue.length > 0 || this.writing); attempt++) {
      await this.flush();
      if (this.queue.length > 0) await new Promise((resolve) => setTimeout(resolve, 200 * (attempt + 1)));
    }
  }
}
