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
  // iteration costs a few microtask hops per chunk on the hottest path of a stream.
  try {
    yield* readEvents<T>(body, providerId, options.stripUsageNull === true, options.unread === true);
  } catch (error) {
    throw options.mapError ? options.mapError(error) : error;
  } finally {
    options.cleanup?.();
  }
}

async function* readEvents<T extends StreamEvent>(
  body: AsyncIterable<Uint8Array>,
  providerId: string,
  stripUsageNull: boolean,
  unread: boolean,
): AsyncGenerator<T | UnreadChunk> {
  const decoder = new TextDecoder();
  const ready: Array<T | UnreadChunk> = [];
  // The first event is always read: an upstream that speaks something else is caught at once.
  let first = true;
  let done = false;
  let finished = false;
  let failure: SwitchyardError | undefined;

  const parser = createParser({
    onEvent(event: EventSourceMessage) {
      if (done || failure) return;
      const data = event.data;
      if (data === '[DONE]') {
        done = true;
        return;
      }
      if (unread && !first && event.event === undefined) {
        const chunk = unreadChunk(data, stripUsageNull);
        if (chunk) {
          ready.push(chunk);
          return;
        }
      }
      first = false;
      let parsed: T & { error?: { message?: string; code?: string } };
      try {
        parsed = JSON.parse(data);
      } catch {
        failure = new UpstreamError('upstream_error', `The upstream provider '${providerId}' sent a malformed stream event.`);
        return;
      }
      if (event.event === 'error' || parsed.error) {
        const message = typeof parsed.error?.message === 'string' ? parsed.error.message : 'The upstream stream failed.';
        failure = new UpstreamError('upstream_error', `The upstream provider '${providerId}' failed mid-stream: ${message}`);
        return;
      }
      if (parsed.choices?.some((choice) => choice.finish_reason)) finished = true;
      ready.push(withRawJson(parsed, data, stripUsageNull));
    },
  });

  for await (const bytes of body) {
    parser.feed(decoder.decode(bytes, { stream: true }));
    while (ready.length > 0) yield ready.shift()!;
    if (failure) throw failure;
    // After `[DONE]` the body is still read to its end, so the keep-alive socket can be reused.
  }
  parser.feed(decoder.decode());
  while (ready.length > 0) yield ready.shift()!;
  if (failure) throw failure;
  // Some servers end without `[DONE]`; a stream that saw its finish is complete all the same.
  if (!done && !finished) {
    throw new UpstreamError('stream_interrupted', `The upstream provider '${providerId}' closed the stream before it finished.`);
  }
}

const USAGE_NULL = ',"usage":null}';
/** Where `"usage"` starts in an event that ends with `USAGE_NULL`, counted from the end. */
const USAGE_NULL_KEY_FROM_END = USAGE_NULL.length - 1;
const FINISH_KEY = '"finish_reason"';

/**
 * The event as an unread chunk when reading it could change nothing: no usage (but a trailing
 * `"usage":null`), no error, no finish reason set, on one line, and braced like an object. Keys
 * are found by their quoted names: inside a JSON string a quote is always escaped, so text in a
 * message can never look like a key here. Anything else (an unusual layout included) is read.
 *
 * What is not checked is that the text between the braces is JSON: a broken upstream whose event
 * is braces around garbage reaches the client as it came, as it would through a plain proxy.
 */
function unreadChunk(data: string, stripUsageNull: boolean): UnreadChunk | undefined {
  if (data.charCodeAt(0) !== 0x7b || data.charCodeAt(data.length - 1) !== 0x7d) return undefined;
  if (data.includes('\n') || data.includes('"error"')) return undefined;
  for (let at = data.indexOf(FINISH_KEY); at !== -1; at = data.indexOf(FINISH_KEY, at + FINISH_KEY.length)) {
    if (!data.startsWith(':null', at + FINISH_KEY.length)) return undefined;
  }
  const usageAt = data.indexOf('"usage"');
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
