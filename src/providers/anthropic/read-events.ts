import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { UpstreamError } from '../../errors/errors.js';
import { parseStreamEvent, type AnthropicStreamEvent } from './wire-schemas.js';

/**
 * Anthropic's SSE body as parsed events. Each event comes as `event: <type>` and `data: <json>`;
 * the JSON's own `type` is read (it always matches), and events of unknown types are skipped.
 * Bytes are decoded as a stream, so a character split across two TCP reads arrives whole.
 */
export async function* readEvents(body: AsyncIterable<Uint8Array>, providerId: string): AsyncGenerator<AnthropicStreamEvent> {
  const decoder = new TextDecoder();
  const ready: AnthropicStreamEvent[] = [];
  let failure: UpstreamError | undefined;
  const parser = createParser({
    onEvent(event: EventSourceMessage) {
      if (failure) return;
      try {
        const parsed = parseStreamEvent(event.data);
        if (parsed) ready.push(parsed);
      } catch (error) {
        failure = new UpstreamError('upstream_error', `The upstream provider '${providerId}' sent a malformed stream event.`, { cause: error });
      }
    },
  });
  for await (const bytes of body) {
    parser.feed(decoder.decode(bytes, { stream: true }));
    while (ready.length > 0) yield ready.shift()!;
    if (failure) throw failure;
  }
  parser.feed(decoder.decode());
  while (ready.length > 0) yield ready.shift()!;
  if (failure) throw failure;
}
