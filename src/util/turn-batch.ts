import { beforeWritesAtTurnEnd } from './end-of-turn.js';

/**
 * Items added during one turn of the event loop, handed over together at its end: one write or one
 * command for everything the turn produced instead of one each. `add` resolves once its item's
 * batch is sent (and rejects if sending it failed). Batches go before the turn's socket writes
 * (`end-of-turn.ts`), so a reply waiting on its batch leaves with them.
 */
export class TurnBatch<T> {
  private queued: T[] = [];
  private turn: Promise<void> | undefined;

  constructor(private readonly send: (items: T[]) => Promise<void> | void) {}

  add(item: T): Promise<void> {
    this.queued.push(item);
    return (this.turn ??= new Promise<void>((resolve, reject) => {
      beforeWritesAtTurnEnd(() => {
        try {
          Promise.resolve(this.flush()).then(resolve, reject);
        } catch (error) {
          reject(error as Error);
        }
      });
    }));
  }

  /** Sends what is queued now, before the turn ends (a rotation, a shutdown). */
  flush(): Promise<void> | void {
    this.turn = undefined;
    if (this.queued.length === 0) return;
    const items = this.queued;
    this.queued = [];
    return this.send(items);
  }
}
