import type { LlamaContext, LlamaContextSequence, Token } from 'node-llama-cpp';
import { ClientAbortedError, SwitchyardError } from '../../errors/errors.js';

interface Waiter {
  resolve: (sequence: LlamaContextSequence) => void;
  reject: (error: unknown) => void;
  tokens: readonly Token[];
}

/**
 * The sequences of one context: `parallel` requests generate at once (the engine batches them);
 * beyond that a bounded queue, and beyond the queue a 429. A sequence is lent to the request whose
 * prompt shares the longest prefix with what the sequence already holds, so a conversation's next
 * turn reuses its KV cache.
 */
export class SequencePool {
  private readonly free: LlamaContextSequence[] = [];
  private readonly waiting: Waiter[] = [];
  private readonly orders = new Map<LlamaContextSequence, number>();
  private busy = 0;

  constructor(
    context: LlamaContext,
    private readonly queueLimit: number,
  ) {
    for (let i = 0; i < context.totalSequences; i++) {
      const sequence = context.getSequence();
      this.free.push(sequence);
      this.orders.set(sequence, i);
    }
  }

  /**
   * A sequence's place among the context's: the order they were created in, which is their id in
   * llama.cpp (a fresh context hands out ids 0, 1, 2...). The step gate queues tokens in this order.
   */
  orderOf(sequence: LlamaContextSequence): number {
    return this.orders.get(sequence) ?? 0;
  }

  get busyCount(): number {
    return this.busy;
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
    this.busy--;
    this.free.push(sequence);
    const next = this.waiting.shift();
    if (next) next.resolve(this.take(next.tokens));
  }

  private take(tokens: readonly Token[]): LlamaContextSequence {
    let best = 0;
    let bestShared = -1;
    for (let i = 0; i < this.free.length; i++) {
      const shared = sharedPrefix(this.free[i]!.contextTokens, tokens);
      // On a tie the lowest id: busy sequences with consecutive ids batch in one pass (step-gate.ts).
      if (shared > bestShared || (shared === bestShared && this.orderOf(this.free[i]!) < this.orderOf(this.free[best]!))) {
        best = i;
        bestShared = shared;
      }
    }
    this.busy++;
    return this.free.splice(best, 1)[0]!;
  }
}

export function sharedPrefix(a: readonly Token[], b: readonly Token[]): number {
  const length = Math.min(a.length, b.length);
  let i = 0;
  while (i < length && a[i] === b[i]) i++;
  return i;
}
