import { once } from 'node:events';
import type { ServerResponse } from 'node:http';
import type { OutgoingHttpHeaders } from 'node:http';
import { RAW_JSON, type RelayChunk, type TextCompletionChunk } from '../providers/provider.js';
import type { SwitchyardError } from '../errors/errors.js';

/** What the writer streams: chat chunks and text-completion chunks. */
export type SseChunk = RelayChunk | TextCompletionChunk;

const SSE_HEADERS: OutgoingHttpHeaders = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache',
  connection: 'keep-alive',
  // Tells nginx-style proxies not to buffer: each chunk must reach the client as it is produced.
  'x-accel-buffering': 'no',
};

/**
 * Writes one server-sent-event stream onto a raw response: chunks flushed as they come, comment
 * heartbeats, `[DONE]`, or an error event in OpenAI's shape when the stream fails after its start.
 */
export class SseWriter {
  private started = false;
  private corked = false;

  constructor(private readonly response: ServerResponse) {}

  get headersSent(): boolean {
    return this.started;
  }

  get closed(): boolean {
    return this.response.destroyed || this.response.writableEnded;
  }

  start(headers: OutgoingHttpHeaders): void {
    if (this.started) return;
    this.started = true;
    this.response.writeHead(200, { ...headers, ...SSE_HEADERS });
    // The headers leave at the end of this turn of the event loop, together with whatever is
    // written in it (the first chunk, a heartbeat): one socket write instead of two.
    this.coalesce();
    this.response.flushHeaders();
  }

  /** Writes, then waits for the socket to drain when its buffer is full (a slow client). */
  private async write(text: string): Promise<void> {
    if (this.closed) return;
    if (!this.response.write(text)) {
      await once(this.response, 'drain').catch(() => undefined);
    }
  }

  /** One event of an OpenAI stream: a chat chunk, or a legacy completion event. */
  chunk(chunk: SseChunk): Promise<void> | void {
    const json = chunk[RAW_JSON] ?? JSON.stringify(chunk);
    if (this.closed) return;
    this.coalesce();
    if (!this.response.write(`data: ${json}\n\n`)) return this.waitDrain();
  }

  /**
   * Chunks produced in the same turn of the event loop (an upstream read that held several events)
   * leave in one socket write: the response is corked until the loop moves on. A chunk that arrives
   * alone is still sent at once, at the end of its turn.
   */
  private coalesce(): void {
    if (this.corked) return;
    this.corked = true;
    this.response.cork();
    setImmediate(() => this.flush());
  }

  private flush(): void {
    if (!this.corked) return;
    this.corked = false;
    this.response.uncork();
  }

  private async waitDrain(): Promise<void> {
    // 'close' also settles the wait, so a client that leaves never leaves us hanging.
    await Promise.race([once(this.response, 'drain'), once(this.response, 'close')]).catch(() => undefined);
  }

  /** A named event (`event:` line, then its JSON), as the Responses API streams them. */
  event(name: string, json: string): Promise<void> | void {
    if (this.closed) return;
    this.coalesce();
    if (!this.response.write(`event: ${name}\ndata: ${json}\n\n`)) return this.waitDrain();
  }

  /** Ends the stream without `[DONE]` (the Responses API ends with its terminal event). */
  end(): void {
    if (this.closed) return;
    this.coalesce();
    this.response.end();
    this.flush();
  }

  heartbeat(): Promise<void> {
    return this.write(': keep-alive\n\n');
  }

  comment(text: string): Promise<void> {
    return this.write(`: ${text.replace(/[\r\n]+/g, ' ')}\n\n`);
  }

  /** `[DONE]` and the end of the response leave in the same socket write as the last chunks. */
  done(): void {
    if (this.closed) return;
    this.coalesce();
    this.response.end('data: [DONE]\n\n');
    this.flush();
  }

  /** OpenAI's SDKs raise an `APIError` on a data event that carries `error`. */
  fail(error: SwitchyardError): void {
    if (this.closed) return;
    this.coalesce();
    this.response.end(`data: ${JSON.stringify(error.toBody())}\n\n`);
    this.flush();
  }
}
