import type { ServerResponse } from 'node:http';
import { writeAtTurnEnd } from '../util/end-of-turn.js';
import { untilWritable } from './until-writable.js';
import type { OutgoingHttpHeaders } from 'node:http';
import { RAW_JSON, type RelayChunk, type TextCompletionChunk, type UnreadChunk } from '../providers/provider.js';
import type { SwitchyardError } from '../errors/errors.js';

/** What the writer streams: chat chunks (read or not) and text-completion chunks. */
export type SseChunk = RelayChunk | UnreadChunk | TextCompletionChunk;

/** Past this many characters, a turn's events go to the socket at once rather than at the turn's end. */
const FLUSH_AT = 64 * 1024;

const SSE_HEADERS: OutgoingHttpHeaders = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache',
  connection: 'keep-alive',
  // Tells nginx-style proxies not to buffer: each chunk must reach the client as it is produced.
  'x-accel-buffering': 'no',
};

/**
 * Open streams by the server they are on: at the shutdown deadline each ends with its API's last
 * events (chat's error event, the Responses API's `response.failed` and `error`) before its socket
 * is cut, never in silence.
 */
const openStreams = new WeakMap<object, Set<SseWriter>>();

/** Ends every open stream of `server` with its last events for `error`; returns how many there were. */
export function failOpenStreams(server: object, error: SwitchyardError): number {
  const open = openStreams.get(server);
  if (!open) return 0;
  const writers = [...open];
  for (const writer of writers) writer.shutDown(error);
  return writers.length;
}

/**
 * Writes one server-sent-event stream onto a raw response: chunks flushed as they come, comment
 * heartbeats, `[DONE]`, or an error event in OpenAI's shape when the stream fails after its start.
 */
export class SseWriter {
  private started = false;
  /**
   * Events of this turn of the event loop, not yet handed to the socket. Chunks produced in one
   * turn (an upstream read that held several events) leave as one string in one write: handing
   * the socket each event on its own cost a buffer, a conversion and an iovec apiece.
   */
  private pending = '';
  private scheduled = false;
  /** Set while the socket's buffer is full (a write said so): settles on 'drain' or 'close'. */
  private drained: Promise<void> | undefined;

  private registry: Set<SseWriter> | undefined;

  /**
   * `lastEvents`: the text a stream still open at the shutdown deadline ends with (its API's own
   * failure events); a stream without it (a replay of stored events) is left to be cut.
   */
  constructor(
    private readonly response: ServerResponse,
    private readonly lastEvents?: (error: SwitchyardError) => string,
  ) {}

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
    const server = (this.response.socket as { server?: object } | null)?.server;
    if (this.lastEvents && server) {
      let open = openStreams.get(server);
      if (!open) openStreams.set(server, (open = new Set()));
      open.add(this);
      this.registry = open;
      this.response.once('close', () => open.delete(this));
    }
    // The headers leave at the end of this turn of the event loop, together with whatever is
    // written in it (the first chunk, a heartbeat): one socket write instead of two.
    this.response.cork();
    this.schedule();
    this.response.flushHeaders();
  }

  /** One event of an OpenAI stream: a chat chunk, or a legacy completion event. */
  chunk(chunk: SseChunk): Promise<void> | void {
    if (this.closed) return;
    return this.queue(`data: ${chunk[RAW_JSON] ?? JSON.stringify(chunk)}\n\n`);
  }

  /** A named event (`event:` line, then its JSON), as the Responses API streams them. */
  event(name: string, json: string): Promise<void> | void {
    if (this.closed) return;
    return this.queue(namedEvent(name, json));
  }

  heartbeat(): Promise<void> | void {
    if (this.closed) return;
    return this.queue(': keep-alive\n\n');
  }

  comment(text: string): Promise<void> | void {
    if (this.closed) return;
    return this.queue(`: ${text.replace(/[\r\n]+/g, ' ')}\n\n`);
  }

  /**
   * Adds an event to this turn's string; the socket gets it at the end of the turn (or at once past
   * 64 KiB). A client that reads slowly is waited for: once a write found the socket's buffer
   * full, the caller gets a promise that settles when it drains.
   */
  private queue(text: string): Promise<void> | void {
    this.pending += text;
    if (this.pending.length >= FLUSH_AT) this.flush();
    else this.schedule();
    return this.drained;
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    writeAtTurnEnd(this.flushAtTurnEnd);
  }

  private readonly flushAtTurnEnd = (): void => this.flush();

  /** Hands the turn's events to the socket, and with them the headers when they are still held. */
  private flush(): void {
    this.scheduled = false;
    if (this.pending !== '' && !this.closed && !this.response.write(this.pending)) this.drained ??= this.untilDrained();
    this.pending = '';
    if (this.response.writableCorked > 0) this.response.uncork();
  }

  private untilDrained(): Promise<void> {
    return untilWritable(this.response).then(() => {
      this.drained = undefined;
    });
  }

  /** Ends the stream with `last` after this turn's events: everything leaves in one socket write. */
  private finish(last: string): void {
    this.registry?.delete(this);
    if (this.closed) return;
    const text = this.pending + last;
    this.pending = '';
    if (text === '') this.response.end();
    else this.response.end(text);
    if (this.response.writableCorked > 0) this.response.uncork();
  }

  /** Ends the stream without `[DONE]` (the Responses API ends with its terminal event). */
  end(): void {
    this.finish('');
  }

  /** `[DONE]` and the end of the response leave in the same socket write as the last chunks. */
  done(): void {
    this.finish('data: [DONE]\n\n');
  }

  /** OpenAI's SDKs raise an `APIError` on a data event that carries `error`. */
  fail(error: SwitchyardError): void {
    this.finish(chatErrorEvent(error));
  }

  /** The server is shutting down and this stream is still open: it ends with its last events. */
  shutDown(error: SwitchyardError): void {
    if (this.lastEvents) this.finish(this.lastEvents(error));
  }
}

/** A chat or legacy completions stream's failure: one data event carrying OpenAI's error body. */
export function chatErrorEvent(error: SwitchyardError): string {
  return `data: ${JSON.stringify(error.toBody())}\n\n`;
}

/** A named event (`event:` line, then its JSON), as the Responses API streams them. */
export function namedEvent(name: string, json: string): string {
  return `event: ${name}\ndata: ${json}\n\n`;
}
