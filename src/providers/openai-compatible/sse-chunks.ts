import { StringDecoder } from 'node:string_decoder';
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { SwitchyardError, UpstreamError } from '../../errors/errors.js';
import { RAW_JSON, type RelayChunk, type UnreadChunk } from '../provider.js';

/** What the reader needs of an event: chat chunks and legacy completion events both qualify. */
interface StreamEvent {
  choices: ReadonlyArray<{ finish_reason?: string | null }>;
  usage?: unknown;
  [RAW_JSON]?: string;
}

interface ReadOptions {
  stripUsageNull?: boolean;
  /** Ordinary events are passed on unread (see `UnreadChunk`); the caller only relays them. */
  unread?: boolean;
  /** Turns a read failure into the error the client sees. */
  mapError?: (error: unknown) => unknown;
  /** Runs however the stream ends, also when its consumer stops early. */
  cleanup?: () => void;
}

/**
 * Reads an upstream's SSE body into chunks, each keeping its JSON text for a byte-exact relay.
 * An `error` event or error object inside the 200 stream, and a stream cut before `[DONE]` or a
 * finish, are thrown: after the first byte they end the client's stream with an error event.
 */
export function readChunkStream<T extends StreamEvent = RelayChunk>(
  body: AsyncIterable<Uint8Array>,
  providerId: string,
  options: ReadOptions & { unread: true },
): AsyncGenerator<T | UnreadChunk>;
export function readChunkStream<T extends StreamEvent = RelayChunk>(body: AsyncIterable<Uint8Array>, providerId: string, options?: ReadOptions & { unread?: false }): AsyncGenerator<T>;
export async function* readChunkStream<T extends StreamEvent = RelayChunk>(
  body: AsyncIterable<Uint8Array>,
  providerId: string,
  options: ReadOptions = {},
): AsyncGenerator<T | UnreadChunk> {
  // One generator does the reading, the error mapping and the cleanup: every layer of async
  // iteration (a `yield*` included) costs a few microtask hops per chunk on the hottest path of a stream.
  const events = new EventReader<T>(providerId, options.stripUsageNull === true, options.unread === true);
  try {
    for await (const bytes of body) {
      events.feed(bytes);
      while (events.ready.length > 0) yield events.ready.shift()!;
      events.throwIfFailed();
      // After `[DONE]` the body is still read to its end, so the keep-alive socket can be reused.
    }
    events.end();
    while (events.ready.length > 0) yield events.ready.shift()!;
    events.throwIfFailed();
    events.throwIfCut();
  } catch (error) {
    throw options.mapError ? options.mapError(error) : error;
  } finally {
    options.cleanup?.();
  }
}

/** The SSE parser and what it found so far: events ready to hand on, the end, a failure. */
class EventReader<T extends StreamEvent> {
  readonly ready: Array<T | UnreadChunk> = [];
  // Node's own streaming UTF-8 decoder: a character split across reads is held for the next one,
  // as with TextDecoder's stream mode, at a quarter of its cost per read (70 vs 300 ns an event).
  private readonly decoder = new StringDecoder('utf8');
  private readonly parser = createParser({ onEvent: (event) => this.onEvent(event) });
  // The first event is always read: an upstream that speaks something else is caught at once.
  private first = true;
  private done = false;
  private finished = false;
  private failure: SwitchyardError | undefined;

  constructor(
    private readonly providerId: string,
    private readonly stripUsageNull: boolean,
    private readonly unread: boolean,
  ) {}

  feed(bytes: Uint8Array): void {
    this.parser.feed(this.decoder.write(bytes));
  }

  end(): void {
    this.parser.feed(this.decoder.end());
  }

  throwIfFailed(): void {
    if (this.failure) throw this.failure;
  }

  /** Some servers end without `[DONE]`; a stream that saw its finish is complete all the same. */
  throwIfCut(): void {
    if (!this.done && !this.finished) {
      throw new UpstreamError('stream_interrupted', `The upstream provider '${this.providerId}' closed the stream before it finished.`);
    }
  }

  private onEvent(event: EventSourceMessage): void {
    if (this.done || this.failure) return;
    const data = event.data;
    if (data === '[DONE]') {
      this.done = true;
      return;
    }
    if (this.unread && !this.first && event.event === undefined) {
      const chunk = unreadChunk(data, this.stripUsageNull);
      if (chunk) {
        this.ready.push(chunk);
        return;
      }
    }
    this.first = false;
    let parsed: T & { error?: { message?: string; code?: string } };
    try {
      parsed = JSON.parse(data);
    } catch {
      this.failure = new UpstreamError('upstream_error', `The upstream provider '${this.providerId}' sent a malformed stream event.`);
      return;
    }
    if (event.event === 'error' || parsed.error) {
      const message = typeof parsed.error?.message === 'string' ? parsed.error.message : 'The upstream stream failed.';
      this.failure = new UpstreamError('upstream_error', `The upstream provider '${this.providerId}' failed mid-stream: ${message}`);
      return;
    }
    if (parsed.choices?.some((choice) => choice.finish_reason)) this.finished = true;
    this.ready.push(withRawJson(parsed, data, this.stripUsageNull));
  }
}

const USAGE_NULL = ',"usage":null}';
/** Where `"usage"` starts in an event that ends with `USAGE_NULL`, counted from the end. */
const USAGE_NULL_KEY_FROM_END = USAGE_NULL.length - 1;
/** What can make an event worth reading, found in one pass: a line break, and three keys. */
const TELLING = /\n|"(?:error|finish_reason|usage)"/g;

/**
 * The event as an unread chunk when reading it could change nothing: no usage (but a trailing
 * `"usage":null`), no error, no finish reason set, on one line, and braced like an object. Keys
 * are found by their quoted names: inside a JSON string a quote is always escaped, so text in a
 * message can never look like a key here. Anything else (an unusual layout included) is read.
 * One regular-expression pass over the text (a pass per key cost twice as much).
 *
 * What is not checked is that the text between the braces is JSON: a broken upstream whose event
 * is braces around garbage reaches the client as it came, as it would through a plain proxy.
 */
function unreadChunk(data: string, stripUsageNull: boolean): UnreadChunk | undefined {
  if (data.charCodeAt(0) !== 0x7b || data.charCodeAt(data.length - 1) !== 0x7d) return undefined;
  let usageAt = -1;
  TELLING.lastIndex = 0;
  for (let found = TELLING.exec(data); found !== null; found = TELLING.exec(data)) {
    const key = found[0];
    if (key === '"usage"') {
      // Twice (a duplicate key) is unusual enough to read.
      if (usageAt !== -1) return undefined;
      usageAt = found.index;
    } else if (key !== '"finish_reason"' || !data.startsWith(':null', found.index + key.length)) return undefined;
  }
  if (usageAt === -1) return { [RAW_JSON]: data };
  if (usageAt !== data.length - USAGE_NULL_KEY_FROM_END || !data.endsWith(USAGE_NULL)) return undefined;
  return { [RAW_JSON]: stripUsageNull ? `${data.slice(0, -USAGE_NULL.length)}}` : data, usage: null };
}

/**
 * Keeps the event's JSON text on the chunk so the relay can write it as it came. Text that spans
 * lines (a multi-line `data:` event) cannot be written after one `data: ` prefix and is not kept.
 * `"usage":null`, there only because Switchyard asked the upstream for usage, is cut when the client
 * did not ask (OpenAI puts it last, so this is a suffix check, not a parse).
 */
function withRawJson<T extends StreamEvent>(chunk: T, data: string, stripUsageNull: boolean): T {
  let raw: string | undefined = data.includes('\n') ? undefined : data;
  if (stripUsageNull && chunk.usage === null) {
    delete chunk.usage;
    raw = raw?.endsWith(USAGE_NULL) ? `${raw.slice(0, -USAGE_NULL.length)}}` : undefined;
  }
  if (raw !== undefined) Object.defineProperty(chunk, RAW_JSON, { value: raw });
  return chunk;
}
