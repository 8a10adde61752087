// The usage journal's group commit: an answer waits for its record's line, and the lines of one
// turn of the event loop leave in one write.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { closeSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { UsageJournal } from '../../src/platform/usage-journal.js';
import type { UsageRecord } from '../../src/store/usage-store.js';

const record = (auditId: string) => ({ audit_id: auditId, request_id: `req_${auditId}`, created_at: 1, status: 'completed' }) as unknown as UsageRecord;

/** Read synchronously: the check must not let the event loop turn. */
function journalLines(dir: string): Record<string, string[]> {
  const files: Record<string, string[]> = {};
  for (const name of readdirSync(dir).sort()) {
    files[name] = readFileSync(path.join(dir, name), 'utf8').split('\n').filter(Boolean).map((line) => (JSON.parse(line) as UsageRecord).audit_id);
  }
  return files;
}

test('append settles once its line is in the file; the lines of one turn share one write', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'switchyard-journal-'));
  const journal = new UsageJournal(dir);
  try {
    const first = journal.append(record('aud_1'));
    const second = journal.append(record('aud_2'));
    // One write for the turn: both calls wait on the same one.
    assert.equal(first, second);
    assert.deepEqual(Object.values(journalLines(dir)), [[]], 'nothing is written before the turn ends');
    await first;
    assert.deepEqual(Object.values(journalLines(dir)), [['aud_1', 'aud_2']]);
    const third = journal.append(record('aud_3'));
    assert.notEqual(third, first, 'a later turn has a write of its own');
    await third;
    assert.deepEqual(Object.values(journalLines(dir)), [['aud_1', 'aud_2', 'aud_3']]);
  } finally {
    journal.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('a batch taken mid-turn takes the lines queued before it; close writes what is queued', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'switchyard-journal-'));
  const journal = new UsageJournal(dir);
  try {
    const before = journal.append(record('aud_a'));
    const sequence = journal.rotate();
    assert.equal(sequence, 1);
    const after = journal.append(record('aud_b'));
    await Promise.all([before, after]);
    const files = journalLines(dir);
    const names = Object.keys(files);
    assert.deepEqual(files[names.find((name) => name.endsWith('.1.ndjson'))!], ['aud_a'], 'the taken batch holds the line queued before it');
    assert.deepEqual(files[names.find((name) => !/\.\d+\.ndjson$/.test(name))!], ['aud_b']);
    journal.append(record('aud_c')).catch(() => {});
    journal.close();
    const closed = journalLines(dir);
    assert.deepEqual(closed[names.find((name) => !/\.\d+\.ndjson$/.test(name))!], ['aud_b', 'aud_c'], 'close writes the queued line at once');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('files left by an earlier process with the same pid (a container restart: pid 1 again) are replayed', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'switchyard-journal-'));
  try {
    const earlier = `usage-${process.pid}-${Date.now() - 60_000}`;
    writeFileSync(path.join(dir, `${earlier}.ndjson`), `${JSON.stringify(record('aud_lost_1'))}\n`);
    writeFileSync(path.join(dir, `${earlier}.3.ndjson`), `${JSON.stringify(record('aud_lost_2'))}\n`);
    const journal = new UsageJournal(dir);
    try {
      await journal.append(record('aud_own'));
      const orphaned = journal.orphaned();
      assert.deepEqual(orphaned.records.map((line) => line.audit_id).sort(), ['aud_lost_1', 'aud_lost_2']);
      assert.equal(orphaned.files.length, 2, "this process's own file is not among them");
    } finally {
      journal.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

/** A journal in a `usage` directory of a fresh temporary root, closed (twice: close is idempotent) and removed after. */
async function withJournal(run: (journal: UsageJournal, dir: string, root: string) => Promise<void>): Promise<void> {
  const root = await mkdtemp(path.join(tmpdir(), 'switchyard-journal-'));
  const dir = path.join(root, 'usage');
  const journal = new UsageJournal(dir);
  try {
    await run(journal, dir, root);
  } finally {
    journal.close();
    journal.close();
    await rm(root, { recursive: true, force: true });
  }
}

test('a rotation that cannot open its new file leaves the journal on a descriptor it owns, never one the process hands out again', () =>
  withJournal(async (journal, dir, root) => {
    await journal.append(record('aud_1'));
    // The data directory replaced by a file: neither the rename nor the open can succeed.
    rmSync(dir, { recursive: true, force: true });
    writeFileSync(dir, '');
    assert.throws(() => journal.rotate());
    // The lowest free descriptor: the old one's number, had the failed rotation closed it.
    const bystander = path.join(root, 'bystander');
    const fd = openSync(bystander, 'w');
    try {
      await journal.append(record('aud_2'));
      assert.equal(readFileSync(bystander, 'utf8'), '', 'no journal line lands in a file (or socket) that is not the journal’s');
    } finally {
      closeSync(fd);
    }
  }));

test('a data directory removed under the server is made again at the next rotation', () =>
  withJournal(async (journal, dir) => {
    await journal.append(record('aud_1'));
    rmSync(dir, { recursive: true, force: true });
    assert.equal(journal.rotate(), 1);
    await journal.append(record('aud_2'));
    assert.deepEqual(Object.values(journalLines(dir)), [['aud_2']]);
  }));
