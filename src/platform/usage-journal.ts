import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import path from 'node:path';
import { TurnBatch } from '../util/turn-batch.js';
import type { UsageRecord } from '../store/usage-store.js';

/** The descriptor of a closed journal: no file or socket ever has it. */
const CLOSED = -1;

/** `usage-<pid>-<start>.ndjson` (being written) and `usage-<pid>-<start>.<n>.ndjson` (a batch taken). */
const FILE = /^usage-(\d+)-(\d+)(?:\.(\d+))?\.ndjson$/;

/** Whether a process with this id runs now (not this one: a file of ours is known by its name). */
function alive(pid: number): boolean {
  if (pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, under another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const quietly = (action: () => void) => {
  try {
    action();
  } catch (error) {
    // Gone already (another cleanup got there first): nothing left to do.
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
};

/**
 * The usage records of answered calls, made durable before the answer completes: one JSON line per
 * record, appended with a synchronous write(2) — the records of one turn of the event loop in one
 * write (a group commit: a write(2) per record held the event loop long enough to cost a third of
 * the throughput). `append` returns when that write is done, and the gateway awaits it before a
 * stream's `[DONE]` and before a non-streaming body is sent. A killed process (kill -9, OOM) loses nothing
 * the kernel has: the page cache outlives the process. Power loss can still take the last seconds
 * (no fsync per record: that would cost milliseconds per request).
 *
 * Each process writes files of its own (named by pid and start time), so nodes that share a data
 * directory never touch each other's. The recorder writes batches to the store; each batch's lines
 * move to a numbered file when the batch is taken, deleted once the batch is in the store (with
 * every older one: a failed batch goes back in front of the queue, so a later success covers it).
 * At start, the files of processes that are gone are replayed into the store, idempotently (a
 * record already written is skipped by its audit id), then deleted. A file with this process's own
 * pid but another start time is a dead process's too: in a container every start may get pid 1.
 */
export class UsageJournal {
  private readonly name: string;
  private fd: number;
  private sequence = 0;
  /** Lines queued in this turn of the event loop: one write(2) at its end. */
  private readonly lines = new TurnBatch<string>((lines) => {
    writeSync(this.fd, lines.join(''));
  });

  constructor(private readonly dir: string) {
    mkdirSync(dir, { recursive: true });
    this.name = `usage-${process.pid}-${Date.now()}`;
    this.fd = openSync(this.current, 'a');
  }

  private get current(): string {
    return path.join(this.dir, `${this.name}.ndjson`);
  }

  /**
   * Queues a record's line; the promise settles once it is written, at the end of this turn of the
   * event loop together with every other line of the turn. A failed write rejects it.
   */
  append(record: UsageRecord): Promise<void> {
    return this.lines.add(`${JSON.stringify(record)}\n`);
  }

  /**
   * Starts a new file for what comes next; returns the number of the one just closed. The new file
   * is open before the old descriptor is closed: a failed open (the directory removed, EMFILE)
   * throws with the journal still writing to a file it owns. Were the old descriptor closed first,
   * its number would be free for the next socket the server accepts, and the records of every
   * later call would be written onto a client's connection.
   */
  rotate(): number {
    // Lines queued before the batch was taken belong to its file.
    void this.lines.flush();
    const taken = path.join(this.dir, `${this.name}.${this.sequence + 1}.ndjson`);
    quietly(() => renameSync(this.current, taken));
    let next: number;
    try {
      next = this.openCurrent();
    } catch (error) {
      // The lines stay in the file being written, under its own name again where it can have it.
      quietly(() => renameSync(taken, this.current));
      throw error;
    }
    closeSync(this.fd);
    this.fd = next;
    this.sequence += 1;
    return this.sequence;
  }

  /** The file being written, opened anew; a data directory removed under the server is made again. */
  private openCurrent(): number {
    try {
      return openSync(this.current, 'a');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      mkdirSync(this.dir, { recursive: true });
      return openSync(this.current, 'a');
    }
  }

  /** The batch of `sequence` (and every batch before it) is in the store. */
  written(sequence: number): void {
    for (const file of this.files()) {
      if (file.own && file.sequence !== undefined && file.sequence <= sequence) quietly(() => unlinkSync(file.path));
    }
  }

  /** Records left by processes that are gone (killed before their batches reached the store); a torn last line is skipped. */
  orphaned(): { records: UsageRecord[]; files: string[] } {
    const files = this.files().filter((file) => !file.own && !alive(file.pid));
    const records: UsageRecord[] = [];
    for (const file of files) {
      let text = '';
      quietly(() => (text = readFileSync(file.path, 'utf8')));
      for (const line of text.split('\n')) {
        if (!line) continue;
        try {
          records.push(JSON.parse(line) as UsageRecord);
        } catch {
          // A line cut by the kill: its call never finished its write, so its answer never completed either.
        }
      }
    }
    return { records, files: files.map((file) => file.path) };
  }

  /** Deletes replayed files. */
  discard(files: readonly string[]): void {
    for (const file of files) quietly(() => unlinkSync(file));
  }

  /** Writes what is queued and closes the file; a second close does nothing. */
  close(): void {
    if (this.fd === CLOSED) return;
    void this.lines.flush();
    closeSync(this.fd);
    // Never a number the process may reuse: a line appended after close fails (EBADF) rather than
    // landing in whatever file or socket gets that number next.
    this.fd = CLOSED;
  }

  private files(): Array<{ path: string; pid: number; own: boolean; sequence: number | undefined }> {
    return readdirSync(this.dir).flatMap((name) => {
      const match = FILE.exec(name);
      if (!match) return [];
      const own = name.startsWith(`${this.name}.`);
      return [{ path: path.join(this.dir, name), pid: Number(match[1]), own, sequence: match[3] === undefined ? undefined : Number(match[3]) }];
    });
  }
}
