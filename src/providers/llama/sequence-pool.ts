import type { LlamaContext, LlamaContextSequence, Token } from 'node-llama-cpp';
import { ClientAbortedError, SwitchyardError } from '../../errors/errors.js';
import { StepGate } from './step-gate.js';

interface Waiter {
  resolve: (sequence: LlamaContextSequence) => void;
  reject: (error: unknown) => void;
  tokens: readonly Token[];
}

/** One engine context and what goes with it: its sequences decode together, in step. */
export interface Lane {
  context: LlamaContext;
  /** Keeps the lane's generating sequences in step (step-gate.ts). */
  gate: StepGate;
  /** Its sequences lent out now. */
  busy: number;
}

/**
 * What one more sequence already generating on a context costs a request, in prompt tokens of
 * reused KV cache: a sequence is lent where it saves more than this many tokens per busy sibling,
 * else on the less busy context. A conversation's next turn (hundreds of shared tokens) stays where
 * its cache is; a shared chat-template header alone does not pile requests onto one context.
 */
const BUSY_SIBLING_TOKENS = 32;

interface Slot {
  lane: Lane;
  /** The sequence's place among its context's: the order they were created in, which is its id
   * in llama.cpp (a fresh context hands out ids 0, 1, 2...). The step gate queues tokens in this order. */
  order: number;
}

/**
 * The sequences of a model's contexts: `parallel` requests generate at once (each context batches
 * its own); beyond that a bounded queue, and beyond the queue a 429. A sequence is lent to the
 * request whose prompt shares the longest prefix with what the sequence already holds, so a
 * conversation's next turn reuses its KV cache, weighed against how busy its context is, so that
 * the contexts (each decoding on its own thread) share the work.
 */
export class SequencePool {
  readonly lanes: readonly Lane[];
  private readonly free: LlamaContextSequence[] = [];
  private readonly waiting: Waiter[] = [];
  private readonly slots = new Map<LlamaContextSequence, Slot>();

  constructor(
    contexts: readonly LlamaContext[],
    private readonly queueLimit: number,
  ) {
    this.lanes = contexts.map((context) => ({ context, gate: new StepGate(), busy: 0 }));
    for (const lane of this.lanes) {
      for (let order = 0; order < lane.context.totalSequences; order++) {
        const sequence = lane.context.getSequence();
        this.free.push(sequence);
        this.slots.set(sequence, { lane, order });
      }
    }
  }

  /** Where a lent sequence generates: its context's step gate and its place in it. */
  stepOf(sequence: LlamaContextSequence): { gate: StepGate; order: number } {
    const slot = this.slot(sequence);
    return { gate: slot.lane.gate, order: slot.order };
  }

  get busyCount(): number {
    return this.lanes.reduce((sum, lane) => sum + lane.busy, 0);
  }

  get queueDepth(): number {
    return this.waiting.length;
  }

  acquire(tokens: readonly Token[], signal: AbortSignal): Promise<LlamaContextSequence> {
    if (this.free.length > 0) return Promise.resolve(this.take(tokens));
    if (this.waiting.length >= this.queueLimit) {
      return Promise.reject(
        new SwitchyardError('model_overloaded', 'The model is busy with other requests; retry shortly.', { retryAfterSeconds: 1 }),
      );
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = { resolve, reject, tokens };
      this.waiting.push(waiter);
      signal.addEventListener(
        'abort',
        () => {
          const index = this.waiting.indexOf(waiter);
          if (index !== -1) {
            this.waiting.splice(index, 1);
            reject(new ClientAbortedError());
          }
        },
        { once: true },
      );
    });
  }

  release(sequence: LlamaContextSequence): void {
    this.slot(sequence).lane.busy--;
    this.free.push(sequence);
    const next = this.waiting.shift();
    if (next) next.resolve(this.take(next.tokens));
  }

  private take(tokens: readonly Token[]): LlamaContextSequence {
    let best = 0;
    let bestScore = -Infinity;
    for (let i = 0; i < this.free.length; i++) {
      const sequence = this.free[i]!;
      const score = sharedPrefix(sequence.contextTokens, tokens) - BUSY_SIBLING_TOKENS * this.slot(sequence).lane.busy;
      if (score > bestScore || (score === bestScore && this.before(sequence, this.free[best]!))) {
        best = i;
        bestScore = score;
      }
    }
    const sequence = this.free.splice(best, 1)[0]!;
    this.slot(sequence).lane.busy++;
    return sequence;
  }

  /** Between two equally good free sequences: the less busy context's, then the lowest id (busy
   * sequences with consecutive ids batch in one pass, step-gate.ts). */
  private before(a: LlamaContextSequence, b: LlamaContextSequence): boolean {
    const slotA = this.slot(a);
    const slotB = this.slot(b);
    if (slotA.lane.busy !== slotB.lane.busy) return slotA.lane.busy < slotB.lane.busy;
    return slotA.order < slotB.order;
  }

  private slot(sequence: LlamaContextSequence): Slot {
    const slot = this.slots.get(sequence);
    if (!slot) throw new Error('a sequence that is not of this pool');
    return slot;
  }
}

/**
 * Readies a sequence for a prompt: keeps the KV cache of the prefix it already holds and erases
 * the rest, leaving at least one prompt token to evaluate anew (generation needs its logits).
 * Returns how many prompt tokens were kept: evaluate `promptTokens.slice(kept)`.
 */
export async function reuseCachedPrefix(sequence: LlamaContextSequence, promptTokens: readonly Token[]): Promise<number> {
  const keep = Math.min(sharedPrefix(sequence.contextTokens, promptTokens), promptTokens.length - 1);
  if (sequence.nextTokenIndex > keep) await sequence.eraseContextTokenRanges([{ start: keep, end: sequence.nextTokenIndex }]);
  return keep;
}

export function sharedPrefix(a: readonly Token[], b: readonly Token[]): number {
  const length = Math.min(a.length, b.length);
  let i = 0;
  while (i < length && a[i] === b[i]) i++;
  return i;
}
