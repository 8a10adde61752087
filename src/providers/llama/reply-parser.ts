/** What a model's raw output holds, once its markup is read. */
export type ReplyEvent =
  | { type: 'reasoning'; text: string }
  | { type: 'content'; text: string }
  | { type: 'tool_call'; name: string; arguments: string };

const THINK_OPEN = '<think>';
const THINK_CLOSE = '</think>';
const TOOL_OPEN = '<tool_call>';
const TOOL_CLOSE = '</tool_call>';

type State = 'content' | 'reasoning' | 'tool_call';

/**
 * Reads a model's output as it streams: `<think>…</think>` is reasoning, `<tool_call>{json}</tool_call>`
 * (the format of Qwen and Hermes-style templates) is a tool call, the rest is content. Markup split
 * across tokens is held back until it is whole.
 */
export class ReplyParser {
  private state: State;
  private buffer = '';
  private toolText = '';
  private toolCalls = 0;
  private readonly parseToolCalls: boolean;
  private readonly maxToolCalls: number;

  /** `maxToolCalls`: calls past it are dropped (1 when the request turns `parallel_tool_calls` off). */
  constructor(options: { startInReasoning: boolean; parseToolCalls: boolean; maxToolCalls?: number }) {
    this.state = options.startInReasoning ? 'reasoning' : 'content';
    this.parseToolCalls = options.parseToolCalls;
    this.maxToolCalls = options.maxToolCalls ?? Infinity;
  }

  /** Text pushed now counts as reasoning. */
  get inReasoning(): boolean {
    return this.state === 'reasoning';
  }

  push(text: string): ReplyEvent[] {
    this.buffer += text;
    const events: ReplyEvent[] = [];
    for (;;) {
      const tags = this.tagsFor(this.state);
      let found: { at: number; tag: string } | undefined;
      for (const tag of tags) {
        const at = this.buffer.indexOf(tag);
        if (at !== -1 && (!found || at < found.at)) found = { at, tag };
      }
      if (!found) {
        const hold = holdBack(this.buffer, tags);
        this.emit(events, this.buffer.slice(0, this.buffer.length - hold));
        this.buffer = this.buffer.slice(this.buffer.length - hold);
        return events;
      }
      this.emit(events, this.buffer.slice(0, found.at));
      this.buffer = this.buffer.slice(found.at + found.tag.length);
      this.transition(found.tag, events);
    }
  }

  end(): ReplyEvent[] {
    const events: ReplyEvent[] = [];
    this.emit(events, this.buffer);
    this.buffer = '';
    // An unfinished tool call is shown as the text it was, not lost.
    if (this.state === 'tool_call' && this.toolText) events.push({ type: 'content', text: TOOL_OPEN + this.toolText });
    return events;
  }

  private tagsFor(state: State): string[] {
    if (state === 'reasoning') return [THINK_CLOSE];
    if (state === 'tool_call') return [TOOL_CLOSE];
    return this.parseToolCalls ? [THINK_OPEN, TOOL_OPEN] : [THINK_OPEN];
  }

  private emit(events: ReplyEvent[], text: string): void {
    if (!text) return;
    if (this.state === 'tool_call') {
      this.toolText += text;
      return;
    }
    const type = this.state === 'reasoning' ? 'reasoning' : 'content';
    const last = events[events.length - 1];
    if (last && last.type === type) last.text += text;
    else events.push({ type, text });
  }

  private transition(tag: string, events: ReplyEvent[]): void {
    if (tag === THINK_OPEN) this.state = 'reasoning';
    else if (tag === THINK_CLOSE) this.state = 'content';
    else if (tag === TOOL_OPEN) {
      this.state = 'tool_call';
      this.toolText = '';
    } else if (tag === TOOL_CLOSE) {
      this.state = 'content';
      const call = parseToolCall(this.toolText);
      if (!call) events.push({ type: 'content', text: `${TOOL_OPEN}${this.toolText}${TOOL_CLOSE}` });
      else if (this.toolCalls++ < this.maxToolCalls) events.push(call);
      this.toolText = '';
    }
  }
}

/** `{"name": "...", "arguments": {...}}` → a tool call with its arguments as JSON text. */
export function parseToolCall(text: string): Extract<ReplyEvent, { type: 'tool_call' }> | undefined {
  try {
    const parsed = JSON.parse(text.trim()) as { name?: unknown; arguments?: unknown; parameters?: unknown };
    if (typeof parsed.name !== 'string') return undefined;
    const args = parsed.arguments ?? parsed.parameters ?? {};
    return { type: 'tool_call', name: parsed.name, arguments: typeof args === 'string' ? args : JSON.stringify(args) };
  } catch {
    return undefined;
  }
}

function holdBack(buffer: string, tags: readonly string[]): number {
  let longest = 0;
  for (const tag of tags) {
    for (let length = Math.min(tag.length - 1, buffer.length); length > longest; length--) {
      if (buffer.endsWith(tag.slice(0, length))) {
        longest = length;
        break;
      }
    }
  }
  return longest;
}
