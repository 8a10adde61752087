import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { SwitchyardError, UpstreamError } from '../../errors/errors.js';
import { RAW_JSON, type RelayChunk } from '../provider.js';

/** What the reader needs of an event: chat chunks and legacy completion events both qualify. */
interface StreamEvent {
  choices: ReadonlyArray<{ finish_reason?: string | null }>;
  usage?: unknown;
  [RAW_JSON]?: string;
}

/**
 * Reads an upstream's SSE body into chunks, each keeping its JSON text for a byte-exact relay.
 * An `error` event or error object inside the 200 stream, and a stream cut before `[DONE]` or a
 * finish, are thrown: after the first byte they end the client's stream with an error event.
 */
export async function* readChunkStream<T extends StreamEvent = RelayChunk>(
  body: AsyncIterable<Uint8Array>,
  providerId: string,
  options: {
    stripUsageNull?: boolean;
    /** Turns a read failure into the error the client sees. */
    mapError?: (error: unknown) => unknown;
    /** Runs however the stream ends, also when its consumer stops early. */
    cleanup?: () => void;
  } = {},
): AsyncGenerator<T> {
  // One generator does the reading, the error mapping and the cleanup: every layer of async
  // iteration costs a few microtask hops per chunk on the hottest path of a stream.
  try {
    yield* readEvents<T>(body, providerId, options.stripUsageNull === true);
  } catch (error) {
    throw options.mapError ? options.mapError(error) : error;
  } finally {
    options.cleanup?.();
  }
}

async function* readEvents<T extends StreamEvent>(body: AsyncIterable<Uint8Array>, providerId: string, stripUsageNull: boolean): AsyncGenerator<T> {
  const decoder = new TextDecoder();
  const ready: T[] = [];
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
