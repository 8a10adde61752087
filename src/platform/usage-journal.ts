import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import path from 'node:path';
import type { UsageRecord } from '../store/usage-store.js';

const CURRENT = 'usage-journal.ndjson';
const ROTATED = /^usage-journal\.(\d+)\.ndjson$/;

/**
 * The usage records of answered calls, made durable before the answer completes: one JSON line per
 * record, appended with a synchronous write(2) from `onCallEnd` — which runs before a stream's
 * `[DONE]` and before a non-streaming body is sent. A killed process (kill -9, OOM) loses nothing
 * the kernel has: the page cache outlives the process. Power loss can still take the last seconds
 * (no fsync per record: that would cost milliseconds per request). At start the journal is
 * replayed into the store, idempotently (a record already written is skipped by its audit id).
 *
 * The recorder writes batches to the store; each batch's journal lines move to a rotated file
 * when the batch is taken and the file is deleted once the batch is in the store (with every
 * older rotated file: a failed batch goes back in front of the queue, so a later success covers it).
 */
export class UsageJournal {
  private fd: number;
  private sequence: number;

  constructor(private readonly dir: string) {
    mkdirSync(dir, { recursive: true });
    this.sequence = Math.max(0, ...this.rotatedFiles().map((file) => file.sequence));
    this.fd = openSync(path.join(dir, CURRENT), 'a');
  }

  append(record: UsageRecord): void {
    writeSync(this.fd, `${JSON.stringify(record)}\n`);
  }

  /** Starts a new file for what comes next; returns the sequence of the one just closed. */
  rotate(): number {
    closeSync(this.fd);
    this.sequence += 1;
    const current = path.join(this.dir, CURRENT);
    if (existsSync(current)) renameSync(current, path.join(this.dir, `usage-journal.${this.sequence}.ndjson`));
    this.fd = openSync(current, 'a');
    return this.sequence;
  }

  /** The batch of `sequence` (and every batch before it) is in the store. */
  written(sequence: number): void {
    for (const file of this.rotatedFiles()) if (file.sequence <= sequence) unlinkSync(file.path);
  }

  /** Every record still in the journal (rotated files, then the current one); a torn last line is skipped. */
  pending(): UsageRecord[] {
    const files = [...this.rotatedFiles().sort((a, b) => a.sequence - b.sequence).map((file) => file.path), path.join(this.dir, CURRENT)];
    const records: UsageRecord[] = [];
    for (const file of files) {
      if (!existsSync(file)) continue;
      for (const line of readFileSync(file, 'utf8').split('\n')) {
        if (!line) continue;
        try {
          records.push(JSON.parse(line) as UsageRecord);
        } catch {
          // A line cut by the kill: its call never completed its write, so its response never completed either.
        }
      }
    }
    return records;
  }

  close(): void {
    closeSync(this.fd);
  }

  private rotatedFiles(): Array<{ sequence: number; path: string }> {
    return readdirSync(this.dir)
      .map((name) => ({ name, match: ROTATED.exec(name) }))
      .filter((entry) => entry.match)
      .map((entry) => ({ sequence: Number(entry.match![1]), path: path.join(this.dir, entry.name) }));
  }
}
