import { StringDecoder } from 'node:string_decoder';
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { SwitchyardError, UpstreamError } from '../../errors/errors.js';
import { RAW_JSON, type RelayChunk, type UnreadChunk } from '../provider.js';
import { mapFinishReason } from './map-finish-reason.js';

/** What the reader needs of an event: chat chunks and legacy completion events both qualify. */
interface StreamEvent {
  choices: ReadonlyArray<{ finish_reason?: string | null }>;
  usage?: unknown;
  [RAW_JSON]?: string;
}

/** What the reader looks at in an event it reads: its envelope, and each choice's finish and tool-call deltas. */
interface ReadEvent {
  id?: unknown;
  object?: unknown;
  created?: unknown;
  model?: unknown;
  system_fingerprint?: unknown;
  choices?: Array<{ index?: number; finish_reason?: string | null; delta?: { tool_calls?: Array<{ index?: number; id?: string; function?: { name?: string } }> | null } }>;
  usage?: unknown;
  error?: unknown;
  message?: unknown;
  detail?: unknown;
  details?: unknown;
}

/** Where the tool calls of one choice stand, for upstreams whose deltas omit `index`. */
interface ToolCallSlots {
  ids: Map<string, number>;
  count: number;
  last: number;
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
  /** The first event with choices: the id, model and shape of a finish chunk the reader may have to add. */
  private envelope: ReadEvent | undefined;
  /** Whether this stream's tool-call deltas carry `index`, once one showed it. */
  private toolIndexes: 'unknown' | 'present' | 'missing' = 'unknown';
  private toolCallSlots: Map<number, ToolCallSlots> | undefined;
  private sawToolCalls = false;

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
      // A server that ends without ever giving a finish reason (some Gemini proxies, LocalAI):
      // OpenAI's clients need one (the SDK's stream helper throws "missing finish_reason").
      if (!this.finished) this.pushFinish();
      return;
    }
    if (this.unread && !this.first && event.event === undefined) {
      const chunk = unreadChunk(data, this.stripUsageNull, this.toolIndexes !== 'present');
      if (chunk) {
        this.ready.push(chunk);
        return;
      }
    }
    this.first = false;
    let parsed: T & ReadEvent;
    try {
      parsed = JSON.parse(data);
    } catch {
      this.failure = new UpstreamError('upstream_error', `The upstream provider '${this.providerId}' sent a malformed stream event.`);
      return;
    }
    // vLLM's older builds send their error as a bare `{"object": "error", "message": …}` event.
    if (event.event === 'error' || parsed.error || parsed.object === 'error') {
      this.failure = new UpstreamError('upstream_error', `The upstream provider '${this.providerId}' failed mid-stream: ${streamErrorMessage(parsed)}`);
      return;
    }
    let rewritten = false;
    const choices = parsed.choices;
    if (Array.isArray(choices)) {
      if (choices.length > 0) this.envelope ??= parsed;
      // The usage chunk of a stream that gave no finish: the finish goes before it, as OpenAI orders them.
      else if (parsed.usage && !this.finished) this.pushFinish();
      for (const choice of choices) {
        const reason = choice.finish_reason;
        if (reason === '') {
          // Ollama's and SGLang's older builds say "" for "not yet"; OpenAI says null.
          choice.finish_reason = null;
          rewritten = true;
        } else if (reason) {
          this.finished = true;
          const mapped = mapFinishReason(reason);
          if (mapped !== undefined) {
            choice.finish_reason = mapped;
            rewritten = true;
          }
        }
        const calls = choice.delta?.tool_calls;
        if (Array.isArray(calls) && calls.length > 0 && this.toolIndexes !== 'present' && this.numberToolCalls(choice.index ?? 0, calls)) rewritten = true;
      }
    }
    this.ready.push(withRawJson(parsed, data, this.stripUsageNull, rewritten));
  }

  /**
   * Gives tool-call deltas that lack `index` one (Ollama before 0.5, Gemini's OpenAI endpoint,
   * mistral.rs): the SDKs' stream helpers key calls by it and lose them without. A delta with a
   * new id, or a name and no id, starts a call; one without either continues the last. Once a
   * stream shows indexes, its deltas are trusted and left unread again. True when any was added.
   */
  private numberToolCalls(choiceIndex: number, calls: NonNullable<NonNullable<NonNullable<ReadEvent['choices']>[number]['delta']>['tool_calls']>): boolean {
    this.sawToolCalls = true;
    let added = false;
    for (const call of calls) {
      if (typeof call.index === 'number') {
        if (this.toolIndexes === 'unknown') this.toolIndexes = 'present';
        continue;
      }
      this.toolIndexes = 'missing';
      this.toolCallSlots ??= new Map();
      let slots = this.toolCallSlots.get(choiceIndex);
      if (!slots) this.toolCallSlots.set(choiceIndex, (slots = { ids: new Map(), count: 0, last: -1 }));
      const known = call.id ? slots.ids.get(call.id) : undefined;
      let index: number;
      if (known !== undefined) index = known;
      else if (call.id || call.function?.name || slots.last === -1) {
        index = slots.count++;
        if (call.id) slots.ids.set(call.id, index);
      } else index = slots.last;
      slots.last = index;
      call.index = index;
      added = true;
    }
    return added;
  }

  /** A finish chunk of the stream's own shape for choice 0, when the upstream gave none. */
  private pushFinish(): void {
    const envelope = this.envelope;
    if (!envelope) return;
    this.finished = true;
    const text = envelope.object === 'text_completion';
    const choice = text
      ? { text: '', index: 0, logprobs: null, finish_reason: 'stop' }
      : { index: 0, delta: {}, logprobs: null, finish_reason: this.sawToolCalls ? 'tool_calls' : 'stop' };
    const chunk: Record<string, unknown> = { id: envelope.id, object: envelope.object, created: envelope.created, model: envelope.model };
    if (envelope.system_fingerprint !== undefined) chunk.system_fingerprint = envelope.system_fingerprint;
    chunk.choices = [choice];
    if (!this.stripUsageNull && envelope.usage === null) chunk.usage = null;
    this.ready.push(chunk as unknown as T);
  }
}

/** The message of an error inside a stream, in the shapes upstreams send it. */
function streamErrorMessage(event: ReadEvent): string {
  const error = event.error as { message?: unknown } | string | undefined;
  if (typeof error === 'string' && error) return error;
  if (typeof error === 'object' && error !== null && typeof error.message === 'string' && error.message) return error.message;
  for (const text of [event.message, event.detail, event.details]) if (typeof text === 'string' && text) return text;
  return 'The upstream stream failed.';
}

const USAGE_NULL = ',"usage":null}';
/** Where `"usage"` starts in an event that ends with `USAGE_NULL`, counted from the end. */
const USAGE_NULL_KEY_FROM_END = USAGE_NULL.length - 1;
/** What can make an event worth reading, found in one pass: a line break, and four keys. */
const TELLING = /\n|"(?:error|finish_reason|usage|tool_calls)"/g;

/**
 * The event as an unread chunk when reading it could change nothing: no usage (but a trailing
 * `"usage":null`), no error, no finish reason set, no tool calls while `readToolCalls` (their
 * indexes not yet seen), on one line, and braced like an object. Keys
 * are found by their quoted names: inside a JSON string a quote is always escaped, so text in a
 * message can never look like a key here. Anything else (an unusual layout included) is read.
 * One regular-expression pass over the text (a pass per key cost twice as much).
 *
 * What is not checked is that the text between the braces is JSON: a broken upstream whose event
 * is braces around garbage reaches the client as it came, as it would through a plain proxy.
 */
function unreadChunk(data: string, stripUsageNull: boolean, readToolCalls: boolean): UnreadChunk | undefined {
  if (data.charCodeAt(0) !== 0x7b || data.charCodeAt(data.length - 1) !== 0x7d) return undefined;
  let usageAt = -1;
  TELLING.lastIndex = 0;
  for (let found = TELLING.exec(data); found !== null; found = TELLING.exec(data)) {
    const key = found[0];
    if (key === '"usage"') {
      // Twice (a duplicate key) is unusual enough to read.
      if (usageAt !== -1) return undefined;
      usageAt = found.index;
    } else if (key === '"tool_calls"') {
      // `"tool_calls":null` and `[]` on every delta (SGLang) hold no call.
      const after = found.index + key.length;
      if (readToolCalls && !data.startsWith(':null', after) && !data.startsWith(':[]', after)) return undefined;
    } else if (key !== '"finish_reason"' || !data.startsWith(':null', found.index + key.length)) return undefined;
  }
  if (usageAt === -1) return { [RAW_JSON]: data };
  if (usageAt !== data.length - USAGE_NULL_KEY_FROM_END || !data.endsWith(USAGE_NULL)) return undefined;
  return { [RAW_JSON]: stripUsageNull ? `${data.slice(0, -USAGE_NULL.length)}}` : data, usage: null };
}

/**
 * Keeps the event's JSON text on the chunk so the relay can write it as it came. Text that spans
 * lines (a multi-line `data:` event) cannot be written after one `data: ` prefix and is not kept,
 * nor is the text of a chunk the reader changed.
 * `"usage":null`, there only because Switchyard asked the upstream for usage, is cut when the client
 * did not ask (OpenAI puts it last, so this is a suffix check, not a parse).
 */
function withRawJson<T extends StreamEvent>(chunk: T, data: string, stripUsageNull: boolean, rewritten: boolean): T {
  // A chunk the reader changed is written from the object.
  let raw: string | undefined = rewritten || data.includes('\n') ? undefined : data;
  if (stripUsageNull && chunk.usage === null) {
    delete chunk.usage;
    raw = raw?.endsWith(USAGE_NULL) ? `${raw.slice(0, -USAGE_NULL.length)}}` : undefined;
  }
  if (raw !== undefined) Object.defineProperty(chunk, RAW_JSON, { value: raw });
  return chunk;
}
