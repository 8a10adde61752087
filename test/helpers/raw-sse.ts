/**
 * Reads a server-sent-event response byte for byte, as it arrives: `data:` events and `:` comments
 * (heartbeats), each stamped with the time it arrived, so tests can check order, `[DONE]`, pacing and
 * what no SDK shows (comments, the absence of a usage chunk).
 */

export interface SseEvent {
  /** `performance.now()` when the bytes that completed this event arrived. */
  at: number;
  kind: 'data' | 'comment';
  /** The data payload or the comment text, without the field prefix. */
  text: string;
}

export interface SseRead {
  response: Response;
  events: SseEvent[];
  /** Everything the body carried, verbatim. */
  raw: string;
}

export interface ReadSseOptions {
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /** Called on each event as it arrives; return true to stop reading (and cancel the body). */
  onEvent?: (event: SseEvent, events: readonly SseEvent[]) => boolean | void;
}

function parseBlock(block: string, at: number): SseEvent[] {
  const out: SseEvent[] = [];
  const data: string[] = [];
  for (const line of block.split(/\r\n|\r|\n/)) {
    if (line.startsWith(':')) out.push({ at, kind: 'comment', text: line.slice(1).trim() });
    else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
  }
  if (data.length > 0) out.push({ at, kind: 'data', text: data.join('\n') });
  return out;
}

/** POSTs `body` as JSON and reads the whole SSE body (or until `onEvent` says stop). */
export async function postSse(url: string, body: unknown, options: ReadSseOptions = {}): Promise<SseRead> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: 'Bearer sk-test', ...options.headers },
    body: JSON.stringify(body),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  const events: SseEvent[] = [];
  let raw = '';
  if (!response.body) return { response, events, raw };
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    const at = performance.now();
    const text = decoder.decode(value, { stream: true });
    raw += text;
    buffer += text;
    let stop = false;
    for (let end = buffer.search(/\r\n\r\n|\n\n|\r\r/); end !== -1; end = buffer.search(/\r\n\r\n|\n\n|\r\r/)) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + (buffer.startsWith('\r\n\r\n', end) ? 4 : 2));
      for (const event of parseBlock(block, at)) {
        events.push(event);
        if (options.onEvent?.(event, events) === true) stop = true;
      }
    }
    if (stop) {
      await reader.cancel().catch(() => undefined);
      break;
    }
  }
  return { response, events, raw };
}

/** The JSON payloads of the data events, `[DONE]` left out. */
export function dataJson<T = Record<string, unknown>>(events: readonly SseEvent[]): T[] {
  return events.filter((event) => event.kind === 'data' && event.text !== '[DONE]').map((event) => JSON.parse(event.text) as T);
}
