import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StepGate } from '../../src/providers/llama/step-gate.js';

/** An iterator whose every `next()` is recorded and settled by hand, as the engine's would be. */
function engineSequence(name: string, asked: string[]) {
  const open: Array<(value: IteratorResult<string>) => void> = [];
  const iterator: AsyncIterator<string> = {
    next: () => {
      asked.push(name);
      return new Promise((resolve) => open.push(resolve));
    },
  };
  return { iterator, land: () => open.shift()!({ value: `${name}-token`, done: false }), get open() { return open.length; } };
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

test('step gate: a sequence alone asks at once', { timeout: 5_000 }, async () => {
  const asked: string[] = [];
  const gate = new StepGate();
  const a = engineSequence('a', asked);
  const first = gate.start(a.iterator);
  a.land();
  assert.deepEqual(await first, { value: 'a-token', done: false });
  assert.equal(gate.idle, true);
  void gate.after(0, a.iterator);
  assert.deepEqual(asked, ['a', 'a'], 'with nothing in flight, after() asks without waiting');
  assert.equal(gate.idle, false);
});

test('step gate: siblings wait for the last token of the step, then all ask in sequence order', { timeout: 5_000 }, async () => {
  const asked: string[] = [];
  const gate = new StepGate();
  const seqs = { s2: engineSequence('s2', asked), s0: engineSequence('s0', asked), s1: engineSequence('s1', asked) };
  // Past their prompts: each asked for a token of this step.
  const pending = { s2: gate.next(2, seqs.s2.iterator), s0: gate.next(0, seqs.s0.iterator), s1: gate.next(1, seqs.s1.iterator) };
  asked.length = 0;

  // s2 lands first: s0 and s1 are still in flight, so it waits.
  seqs.s2.land();
  await pending.s2;
  assert.equal(gate.idle, false);
  const s2Next = gate.after(2, seqs.s2.iterator);
  // s0 lands: s1 still in flight.
  seqs.s0.land();
  await pending.s0;
  const s0Next = gate.after(0, seqs.s0.iterator);
  await turn();
  assert.deepEqual(asked, [], 'nobody asks while a token of the step is in flight');

  // s1 lands last and goes on: at the next turn everyone asks, by order, not by arrival.
  seqs.s1.land();
  await pending.s1;
  assert.equal(gate.idle, true);
  const s1Next = gate.next(1, seqs.s1.iterator);
  assert.deepEqual(asked, [], 'not within the turn the step ended in');
  await turn();
  assert.deepEqual(asked, ['s0', 's1', 's2']);
  assert.equal(gate.idle, false);

  for (const s of Object.values(seqs)) s.land();
  assert.deepEqual((await Promise.all([s0Next, s1Next, s2Next])).map((r) => r.value), ['s0-token', 's1-token', 's2-token']);
});

test('step gate: when the last sequence of a step ends instead of asking, the waiting ones ask', { timeout: 5_000 }, async () => {
  const asked: string[] = [];
  const gate = new StepGate();
  const a = engineSequence('a', asked);
  const b = engineSequence('b', asked);
  const pendingA = gate.next(0, a.iterator);
  const pendingB = gate.next(1, b.iterator);
  asked.length = 0;
  a.land();
  await pendingA;
  const aNext = gate.after(0, a.iterator);
  b.land();
  await pendingB; // b's generation ends here: it never asks again
  await turn();
  assert.deepEqual(asked, ['a']);
  a.land();
  assert.equal((await aNext).value, 'a-token');
});

test("step gate: a new generation's prompt does not hold up the sequences already generating", { timeout: 5_000 }, async () => {
  const asked: string[] = [];
  const gate = new StepGate();
  const a = engineSequence('a', asked);
  const b = engineSequence('b', asked);
  const aToken = gate.next(0, a.iterator);
  const bToken = gate.next(1, b.iterator);
  const c = engineSequence('c', asked);
  void gate.start(c.iterator); // a long prompt, still being evaluated below
  asked.length = 0;
  a.land();
  await aToken;
  const aNext = gate.after(0, a.iterator);
  b.land();
  await bToken;
  const bNext = gate.next(1, b.iterator);
  await turn();
  assert.deepEqual(asked, ['a', 'b'], "a and b step on while c's prompt is in flight");
  a.land();
  b.land();
  await Promise.all([aNext, bNext]);
});
