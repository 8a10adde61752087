import { test } from 'node:test';
import assert from 'node:assert/strict';
import { timeOrderedId } from '../../src/util/ids.js';

// Audit ids key the usage table: they must sort by time (new rows append to the index) in byte order
// and in a locale's collation alike, and still never collide.
test('audit ids sort by creation time, whatever the collation, and are unique', () => {
  const times = [0, 1, 35, 36, 1_295, 1_296, 1_764_000_000_000, 1_764_000_000_001, 1_764_000_086_400, 4_102_444_800_000];
  const ids = times.map((time) => timeOrderedId('aud_', time));
  for (const id of ids) assert.match(id, /^aud_[0-9a-z]{9}[A-Za-z0-9]{15}$/);
  const byteOrder = [...ids].sort();
  const localeOrder = [...ids].sort((a, b) => a.slice(0, 13).localeCompare(b.slice(0, 13), 'en-US'));
  assert.deepEqual(byteOrder, ids);
  assert.deepEqual(localeOrder, ids);

  const sameMillisecond = new Set(Array.from({ length: 10_000 }, () => timeOrderedId('aud_', 1_764_000_000_000)));
  assert.equal(sameMillisecond.size, 10_000);
});
