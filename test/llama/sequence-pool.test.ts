// The sequence pool over several engine contexts, on real node-llama-cpp contexts of the generated
// tiny model: requests spread over the least busy context, a conversation's next turn stays with
// its KV cache, and each context keeps a step gate of its own.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { LlamaContext, LlamaContextSequence, LlamaModel, Token } from 'node-llama-cpp';
import { getEngine } from '../../src/providers/llama/engine.js';
import { SequencePool } from '../../src/providers/llama/sequence-pool.js';
import { defaultContexts, LlamaModelSchema, sequencesPerContext, threadPoolSize } from '../../src/providers/llama/llama-config.js';
import { writeTestModel } from '../../src/providers/llama/test-model/write-test-model.js';

describe('sequence pool over several contexts', () => {
  let dir: string;
  let model: LlamaModel;
  const never = new AbortController().signal;

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'switchyard-pool-'));
    const file = path.join(dir, 'tiny.gguf');
    await writeTestModel(file, {});
    model = await (await getEngine(false)).loadModel({ modelPath: file });
  });

  after(async () => {
    await model.dispose();
    await rm(dir, { recursive: true, force: true });
  });

  /** A pool over two fresh contexts of two sequences each (a pool takes every sequence of its contexts). */
  async function withPool(queueLimit: number, use: (pool: SequencePool) => Promise<void>): Promise<void> {
    const contexts: LlamaContext[] = [];
    for (let i = 0; i < 2; i++) contexts.push(await model.createContext({ contextSize: 512, sequences: 2, threads: 1 }));
    try {
      await use(new SequencePool(contexts, queueLimit));
    } finally {
      for (const context of contexts) await context.dispose();
    }
  }

  const laneOf = (pool: SequencePool, sequence: LlamaContextSequence) => pool.lanes.findIndex((lane) => lane.gate === pool.stepOf(sequence).gate);

  test('requests go to the least busy context, then to the lowest sequence id within it', () => withPool(4, async (pool) => {
    const lent = [];
    for (let i = 0; i < 4; i++) lent.push(await pool.acquire([], never));
    assert.deepEqual(lent.map((sequence) => laneOf(pool, sequence)), [0, 1, 0, 1]);
    assert.deepEqual(lent.map((sequence) => pool.stepOf(sequence).order), [0, 0, 1, 1]);
    assert.deepEqual(pool.lanes.map((lane) => lane.busy), [2, 2]);
    assert.equal(pool.busyCount, 4);
    assert.notEqual(pool.stepOf(lent[0]!).gate, pool.stepOf(lent[1]!).gate, 'a step gate per context');
    // Free now: one sequence of context 0 (its other still busy) and both of context 1.
    for (const sequence of [lent[0]!, lent[1]!, lent[3]!]) pool.release(sequence);
    assert.deepEqual(pool.lanes.map((lane) => lane.busy), [1, 0]);
    const next = await pool.acquire([], never);
    assert.deepEqual([laneOf(pool, next), pool.stepOf(next).order], [1, 0], 'the idle context, its lowest id');
    pool.release(next);
    pool.release(lent[2]!);
    assert.deepEqual(pool.lanes.map((lane) => lane.busy), [0, 0]);
    assert.equal(pool.busyCount, 0);
  }));

  test("a conversation's next turn stays with its cache on a busier context; a short shared prefix does not", () => withPool(4, async (pool) => {
    const first = await pool.acquire([], never);
    assert.equal(laneOf(pool, first), 0);
    const turn = model.tokenize('the people would like to know '.repeat(20)) as Token[];
    assert.ok(turn.length > 100);
    await first.evaluateWithoutGeneratingNewTokens(turn);
    const onOne = await pool.acquire([], never);
    const onZero = await pool.acquire([], never);
    assert.deepEqual([laneOf(pool, onOne), laneOf(pool, onZero)], [1, 0]);
    pool.release(first);
    pool.release(onOne);
    // Context 0 has a request generating, context 1 none.
    assert.deepEqual(pool.lanes.map((lane) => lane.busy), [1, 0]);
    const next = await pool.acquire([...turn, ...(model.tokenize(' and more') as Token[])], never);
    assert.equal(next, first, 'the sequence that holds the conversation, though its context is busier');
    pool.release(next);
    // Sharing only a few tokens is not worth the busier context.
    const stranger = await pool.acquire(turn.slice(0, 4), never);
    assert.equal(laneOf(pool, stranger), 1);
    pool.release(stranger);
    pool.release(onZero);
  }));

  test('past the free sequences requests queue, past the queue a 429', () => withPool(1, async (pool) => {
    const lent = [];
    for (let i = 0; i < 4; i++) lent.push(await pool.acquire([], never));
    const queued = pool.acquire([], never);
    await assert.rejects(pool.acquire([], never), { code: 'model_overloaded' });
    pool.release(lent[3]!);
    assert.equal(await queued, lent[3]);
    for (const sequence of lent) pool.release(sequence);
  }));
});

describe('how many contexts a model gets', () => {
  test("one per sequence on a CPU with one thread each, up to libuv's worker threads; one otherwise", () => {
    assert.equal(defaultContexts({ gpu: false, threads: 1, parallel: 4, workerThreads: 4 }), 4);
    assert.equal(defaultContexts({ gpu: false, threads: 1, parallel: 2, workerThreads: 4 }), 2);
    assert.equal(defaultContexts({ gpu: false, threads: 1, parallel: 16, workerThreads: 4 }), 4);
    assert.equal(defaultContexts({ gpu: false, threads: 1, parallel: 16, workerThreads: 8 }), 8);
    assert.equal(defaultContexts({ gpu: false, threads: 4, parallel: 4, workerThreads: 4 }), 1);
    assert.equal(defaultContexts({ gpu: true, threads: 1, parallel: 4, workerThreads: 4 }), 1);
  });

  test('parallel shared out over the contexts, the remainder to the first ones', () => {
    assert.deepEqual(sequencesPerContext(4, 4), [1, 1, 1, 1]);
    assert.deepEqual(sequencesPerContext(4, 1), [4]);
    assert.deepEqual(sequencesPerContext(5, 2), [3, 2]);
    assert.deepEqual(sequencesPerContext(7, 3), [3, 2, 2]);
  });

  test("libuv's worker threads read as libuv reads UV_THREADPOOL_SIZE", () => {
    assert.equal(threadPoolSize(undefined), 4);
    assert.equal(threadPoolSize('8'), 8);
    assert.equal(threadPoolSize('2.5'), 2, 'a whole number of threads, never a fraction of a context');
    assert.equal(threadPoolSize('0'), 1);
    assert.equal(threadPoolSize('lots'), 1);
    assert.equal(threadPoolSize('5000'), 1024);
  });

  test('a config with more contexts than sequences is refused, naming the field', () => {
    const result = LlamaModelSchema.safeParse({ id: 'm', file: 'm.gguf', parallel: 2, contexts: 3 });
    assert.equal(result.success, false);
    assert.deepEqual(result.error!.issues.map((issue) => issue.path), [['contexts']]);
    assert.equal(LlamaModelSchema.safeParse({ id: 'm', file: 'm.gguf', parallel: 2, contexts: 2 }).success, true);
  });
});
