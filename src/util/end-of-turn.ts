/**
 * Work held to the end of this turn of the event loop, in two phases that run in one check phase,
 * batches first, socket writes after.
 *
 * Why the order: a stream's `[DONE]` waits for its usage record's batched journal write. If the
 * socket flush ran first, the chunks would leave in one write and the `[DONE]` in another: an extra
 * syscall, TCP segment and client wake-up per stream. With the batches first, the promises they
 * settle run in the microtask drain between the two immediates, the ending stream appends its
 * `[DONE]` to the text still held, and everything leaves in one write.
 *
 * Both phases are queued together the first time either is needed in a turn, so the batches always
 * come first. (A batch first needed after its phase ran, in that drain, waits for the next turn.)
 */
type Task = () => void;

class Phase {
  private tasks: Task[] = [];
  scheduled = false;

  add(task: Task): void {
    this.tasks.push(task);
  }

  readonly run = (): void => {
    this.scheduled = false;
    const tasks = this.tasks;
    this.tasks = [];
    for (const task of tasks) {
      try {
        task();
      } catch (error) {
        // One task's failure must not drop the others; it still surfaces as an uncaught error.
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  };
}

const batches = new Phase();
const writes = new Phase();

function schedule(): void {
  if (!batches.scheduled) {
    batches.scheduled = true;
    setImmediate(batches.run);
  }
  if (!writes.scheduled) {
    writes.scheduled = true;
    setImmediate(writes.run);
  }
}

/** Runs `task` at the end of this turn, before the turn's socket writes (a batched journal write, a Redis pipeline). */
export function beforeWritesAtTurnEnd(task: Task): void {
  batches.add(task);
  schedule();
}

/** Runs `task` at the end of this turn, after the turn's batches and the replies they let finish. */
export function writeAtTurnEnd(task: Task): void {
  writes.add(task);
  schedule();
}
