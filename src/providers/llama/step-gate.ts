/**
 * Keeps the sequences generating on one context in step, so that each engine step decodes one
 * token of every one of them in a single llama.cpp batch, in sequence order.
 *
 * Why both matter: node-llama-cpp gives each sequence its own KV cache, and llama.cpp then splits
 * a batch into parts of consecutive sequence ids, in the order the tokens were queued; every part
 * costs a full pass over the model's weights. Queued as 3, 2, 1, 0 the tokens of four sequences
 * take four passes; as 2, 0, 1, 3 two ({2, 3}, then {0, 1}); as 0, 1, 2, 3 one.
 *
 * The tokens of one step are sampled on worker threads and land one by one. A sequence whose token
 * lands while a sibling's is still in flight delivers its token first (its chunk is written while
 * the siblings' are sampled), then waits. Once the last has landed, all ask for their next token
 * together, in sequence order; a sequence alone asks at once.
 */
export class StepGate {
  private inFlight = 0;
  private waiting: Array<{ order: number; ask: () => void }> = [];
  private releaseScheduled = false;

  /** True when no sequence's token is being computed: asking now cannot split a step. */
  get idle(): boolean {
    return this.inFlight === 0;
  }

  /**
   * A generation's first request, its prompt: asked at once and not counted, so that a long prompt
   * never holds up the sequences already generating (the engine fits their tokens in beside it).
   */
  start<T, R>(iterator: AsyncIterator<T, R>): Promise<IteratorResult<T, R>> {
    return handled(iterator.next());
  }

  /**
   * Asks for the next token: at once when no sibling waits, otherwise together with the waiting
   * ones, in sequence order.
   */
  next<T, R>(order: number, iterator: AsyncIterator<T, R>): Promise<IteratorResult<T, R>> {
    if (this.waiting.length === 0) return this.ask(iterator);
    return this.enqueue(order, iterator);
  }

  /** Asks for the next token with the siblings once no token is in flight. */
  after<T, R>(order: number, iterator: AsyncIterator<T, R>): Promise<IteratorResult<T, R>> {
    if (this.inFlight === 0 && this.waiting.length === 0) return this.ask(iterator);
    return this.enqueue(order, iterator);
  }

  private enqueue<T, R>(order: number, iterator: AsyncIterator<T, R>): Promise<IteratorResult<T, R>> {
    const result = new Promise<IteratorResult<T, R>>((resolve) => this.waiting.push({ order, ask: () => resolve(this.ask(iterator)) }));
    if (this.inFlight === 0) this.scheduleRelease();
    return handled(result);
  }

  /**
   * The waiting sequences ask at the next turn of the event loop, not now: the engine's dispatch
   * loop, still finishing the step that just ended, would otherwise take the first of them into
   * a batch of its own before the others were queued.
   */
  private scheduleRelease(): void {
    if (this.releaseScheduled) return;
    this.releaseScheduled = true;
    setImmediate(() => {
      this.releaseScheduled = false;
      if (this.inFlight > 0) return;
      const asking = this.waiting.sort((a, b) => a.order - b.order);
      this.waiting = [];
      for (const { ask } of asking) ask();
    });
  }

  private ask<T, R>(iterator: AsyncIterator<T, R>): Promise<IteratorResult<T, R>> {
    this.inFlight++;
    const result = iterator.next();
    // Registered before the caller awaits `result`, so the count is down when the caller resumes
    // (and, with a rejection handler, `result` is handled: see `handled`).
    result.then(this.land, this.land);
    return result;
  }

  private readonly land = (): void => {
    // The last token of the step is in: the waiting ones ask (with the last one, if it goes on).
    if (--this.inFlight === 0 && this.waiting.length > 0) this.scheduleRelease();
  };
}

/**
 * A token asked for ahead may fail (a sampling failure) while its generator waits on its consumer:
 * every promise the gate hands out is marked handled at once, or Node would end the process over
 * the rejection before the generator comes to await it. The caller still sees the failure.
 */
function handled<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => undefined);
  return promise;
}
