import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TurnBatch } from '../../src/util/turn-batch.js';

test('turn batch: the items of one turn go out together at its end; flush sends early; a failed send rejects', async () => {
  const sent: number[][] = [];
  const batch = new TurnBatch<number>((items) => {
    sent.push(items);
  });
  const first = [batch.add(1), batch.add(2)];
  assert.deepEqual(sent, [], 'nothing is sent within the turn');
  await Promise.all(first);
  assert.deepEqual(sent, [[1, 2]]);

  const later = batch.add(3);
  batch.flush();
  assert.deepEqual(sent, [[1, 2], [3]], 'flush sends at once');
  await later;
  assert.equal(sent.length, 2, 'and the end of the turn sends nothing more');

  const failing = new TurnBatch<number>(async () => {
    throw new Error('store down');
  });
  await assert.rejects(failing.add(1), /store down/);
});
