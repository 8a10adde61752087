import type { Dispatcher } from 'undici';

/** Response headers as undici parses them: lower-case names, repeated ones as arrays. */
export type IncomingHttpHeaders = Record<string, string | string[] | undefined>;

/** Past this many bytes waiting for a reader, the upstream socket is paused until the reader catches up. */
const HIGH_WATER_BYTES = 64 * 1024;

/** What is sent: the dispatcher's own options, origin and path apart. */
export interface UpstreamCallOptions {
  origin: string;
  path: string;
  method: 'GET' | 'POST' | 'DELETE';
  headers: Record<string, string>;
  body?: string | undefined;
}

/** The status line and headers, once they came. */
export interface UpstreamResponseHead {
  statusCode: number;
  headers: IncomingHttpHeaders;
}

/**
 * One HTTP call to an upstream through undici's dispatcher, with a handler of our own: the body's
 * bytes go straight to whoever reads them (an async iterator for streams, `text()` for a whole
 * body). Why not `undici.request`: its Readable body, its signal wiring and its consumers cost
 * about 25 µs of CPU per call and per stream on this machine (41 vs 16 µs a call in an A/B
 * against a local server), a sixth of what Switchyard spends on a whole request.
 *
 * The same contract as `undici.request`: `head` settles with the status and headers or rejects
 * with the transport's error; the abort signal (the client gone) aborts the call at any point;
 * a body that is not read to its end must be `discard`ed, which aborts the call and frees the socket.
 */
export class UpstreamCall implements Dispatcher.DispatchHandler, AsyncIterableIterator<Buffer> {
  readonly head: Promise<UpstreamResponseHead>;
  private settleHead!: (head: UpstreamResponseHead) => void;
  /** Rejects `head`; once the head came, a no-op (a settled promise stays as it is). */
  private failHead!: (error: Error) => void;
  private controller: Dispatcher.DispatchController | undefined;
  private readonly chunks: Buffer[] = [];
  private queuedBytes = 0;
  private ended = false;
  private failure: Error | undefined;
  /** The reader waiting for bytes, an end or a failure. */
  private wake: (() => void) | undefined;
  /** Set by `text()`: the whole body is wanted, so it is never paused. */
  private whole = false;

  constructor(
    dispatcher: Dispatcher,
    options: UpstreamCallOptions,
    private readonly signal: AbortSignal,
  ) {
    this.head = new Promise<UpstreamResponseHead>((resolve, reject) => {
      this.settleHead = resolve;
      this.failHead = reject;
    });
    if (signal.aborted) {
      this.fail(abortReason(signal));
      return;
    }
    // The object is its own listener (`handleEvent`): no closure per call.
    signal.addEventListener('abort', this, { once: true });
    try {
      dispatcher.dispatch({ origin: options.origin, path: options.path, method: options.method, headers: options.headers, body: options.body ?? null }, this);
    } catch (error) {
      this.fail(error as Error);
    }
  }

  /** The client went away: the call is aborted wherever it is. */
  handleEvent(): void {
    const reason = abortReason(this.signal);
    if (this.controller) this.controller.abort(reason);
    // Not yet on a connection (waiting for a free one): the caller need not wait for it.
    else this.fail(reason);
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.signal.aborted || this.failure) controller.abort(this.failure ?? abortReason(this.signal));
  }

  onResponseStart(_controller: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders): void {
    this.settleHead({ statusCode, headers });
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.chunks.push(chunk);
    this.queuedBytes += chunk.length;
    if (!this.whole && this.queuedBytes >= HIGH_WATER_BYTES) controller.pause();
    this.notify();
  }

  onResponseEnd(): void {
    this.ended = true;
    this.release();
    this.notify();
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    this.fail(error);
  }

  private fail(error: Error): void {
    if (this.failure || this.ended) return;
    this.failure = error;
    this.release();
    this.failHead(error);
    this.notify();
  }

  /** The call is over (ended or failed): the signal no longer concerns it. */
  private release(): void {
    this.signal.removeEventListener('abort', this);
  }

  private notify(): void {
    const wake = this.wake;
    if (wake) {
      this.wake = undefined;
      wake();
    }
  }

  private waitForMore(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.wake = resolve;
    });
  }

  /** The next bytes of the body, or undefined at its end; throws what cut it. */
  async read(): Promise<Buffer | undefined> {
    for (;;) {
      // Everything that came, as one buffer: an upstream writes each SSE event as its own HTTP
      // chunk, so one socket read often holds a whole reply's worth; handing them over one by one
      // cost the reader a decode, a parse call and two promise hops per event.
      const chunk = this.chunks.length > 1 ? Buffer.concat(this.chunks.splice(0)) : this.chunks.shift();
      if (chunk) {
        this.queuedBytes -= chunk.length;
        if (this.controller?.paused && this.queuedBytes < HIGH_WATER_BYTES) this.controller.resume();
        return chunk;
      }
      if (this.failure) throw this.failure;
      if (this.ended) return undefined;
      await this.waitForMore();
    }
  }

  // The call is its own iterator: one promise per read and no generator layer in between.
  [Symbol.asyncIterator](): this {
    return this;
  }

  async next(): Promise<IteratorResult<Buffer, undefined>> {
    const chunk = await this.read();
    return chunk === undefined ? { done: true, value: undefined } : { done: false, value: chunk };
  }

  /** A reader that stops early (`break`, or its own failure) leaves the rest unread. */
  async return(): Promise<IteratorResult<Buffer, undefined>> {
    this.discard();
    return { done: true, value: undefined };
  }

  /** The whole body as text, up to `limit` characters' worth of bytes (the rest is not waited for). */
  async text(limit = Infinity): Promise<string> {
    this.whole = true;
    if (this.controller?.paused) this.controller.resume();
    while (!this.ended && this.queuedBytes < limit) {
      if (this.failure) throw this.failure;
      await this.waitForMore();
    }
    const bytes = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
    this.chunks.length = 0;
    this.queuedBytes = 0;
    this.discard();
    return bytes.toString('utf8', 0, Math.min(bytes.length, limit));
  }

  /** Stops reading: a call still running is aborted, so its socket is not left half read. */
  discard(): void {
    if (this.ended || this.failure) return;
    this.chunks.length = 0;
    this.queuedBytes = 0;
    this.fail(new Error('The upstream body was not read to its end.'));
    this.controller?.abort(this.failure!);
  }
}

function abortReason(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new Error('The operation was aborted.');
}
