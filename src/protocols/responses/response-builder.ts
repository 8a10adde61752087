import type { ChatCompletion, ChatCompletionChunk, ChatCompletionTokenLogprob } from 'openai/resources/chat/completions';
import type { CompletionUsage } from 'openai/resources/completions';
import type { ResponseError, ResponseOutputRefusal, ResponseOutputText } from 'openai/resources/responses/responses';
import type { SwitchyardError } from '../../errors/errors.js';
import type { IdGenerator } from '../../util/ids.js';
import { responseUsage } from './response-object.js';
import type { FunctionCallItem, OutputMessage, ReasoningItem, ResponseObject, ServerEvent, UnnumberedEvent } from './types.js';

/** Output-part logprobs carry `bytes`; the delta events' type is the same minus that, so these serve both. */
type Logprob = ResponseOutputText.Logprob;
type DeltaWithReasoning = ChatCompletionChunk.Choice.Delta & { reasoning?: string | null; reasoning_content?: string | null };
type ItemStatus = 'in_progress' | 'completed' | 'incomplete';

/** The item being written: a message (its current part), a function call, or reasoning. */
type OpenItem =
  | { kind: 'message'; outputIndex: number; item: OutputMessage; part: ResponseOutputText | ResponseOutputRefusal }
  | { kind: 'function_call'; outputIndex: number; item: FunctionCallItem; toolIndex: number }
  | { kind: 'reasoning'; outputIndex: number; item: ReasoningItem; text: string };

export interface ResponseBuilderOptions {
  ids: IdGenerator;
  /** Reasoning is written as a summary (`reasoning.summary` was asked) rather than as reasoning text. */
  summarizeReasoning: boolean;
  /** Usage when the backend reports none: counted from what was sent and what came back. */
  estimateUsage: (outputText: string) => CompletionUsage;
  now?: () => number;
}

function toLogprobs(content: readonly ChatCompletionTokenLogprob[] | null | undefined): Logprob[] {
  return (content ?? []).map((entry) => ({
    token: entry.token,
    logprob: entry.logprob,
    bytes: entry.bytes ?? [],
    top_logprobs: entry.top_logprobs.map((top) => ({ token: top.token, logprob: top.logprob, bytes: top.bytes ?? [] })),
  })) as Logprob[];
}

function errorCode(error: SwitchyardError): ResponseError['code'] {
  return error.status === 429 ? 'rate_limit_exceeded' : 'server_error';
}

/**
 * Turns a chat chunk stream into the Responses API's events, in OpenAI's order, numbered from 0,
 * and builds the final Response object from the same state, so the ids and text of the stream and
 * of the object are the same by construction. Only the first choice is read (Responses has no `n`).
 *
 * Per item: `output_item.added`, then for a message `content_part.added`, `output_text.delta`…,
 * `output_text.done`, `content_part.done`; for a call `function_call_arguments.delta`… and `.done`;
 * for reasoning the summary or reasoning-text events; then `output_item.done`. An item closes when
 * the next one starts or the stream ends.
 */
export class ResponseBuilder {
  readonly events: ServerEvent[] = [];
  private sequence = 0;
  private started = false;
  private open: OpenItem | undefined;
  private readonly calls = new Map<number, { outputIndex: number; item: FunctionCallItem }>();
  /**
   * Deltas of later tool calls, held while the open call's arguments are not yet a whole JSON
   * value: a backend may stream every call's head first and the arguments after, interleaved.
   * Each item is still written whole before the next opens, as OpenAI orders them, and no done
   * event goes out before its arguments are complete.
   */
  private held: ChatCompletionChunk.Choice.Delta.ToolCall[] = [];
  private finishReason: ChatCompletion.Choice['finish_reason'] | undefined;
  private usage: CompletionUsage | undefined;
  /** The tier the backend says served the call (OpenAI's chunks carry it). */
  private servedTier: ChatCompletionChunk['service_tier'] | undefined;
  private readonly now: () => number;

  constructor(
    private readonly response: ResponseObject,
    private readonly options: ResponseBuilderOptions,
  ) {
    this.now = options.now ?? Date.now;
  }

  /** The response as it stands (final once `finish` or `fail` ran). */
  get result(): ResponseObject {
    return this.response;
  }

  private emit(event: UnnumberedEvent, into: ServerEvent[]): void {
    // Each event is a snapshot: later deltas must not change what an earlier event said.
    const numbered = { ...structuredClone(event), sequence_number: this.sequence++ } as ServerEvent;
    this.events.push(numbered);
    into.push(numbered);
  }

  private snapshot(): ResponseObject {
    return structuredClone(this.response);
  }

  private start(chunk: ChatCompletionChunk | undefined, out: ServerEvent[]): void {
    if (this.started) return;
    this.started = true;
    if (chunk?.model) this.response.model = chunk.model;
    this.emit({ type: 'response.created', response: this.snapshot() }, out);
    this.emit({ type: 'response.in_progress', response: this.snapshot() }, out);
  }

  /** The events one chunk makes (the first chunk also makes `response.created` and `response.in_progress`). */
  add(chunk: ChatCompletionChunk): ServerEvent[] {
    const out: ServerEvent[] = [];
    this.start(chunk, out);
    if (chunk.usage) this.usage = chunk.usage;
    if (chunk.service_tier) this.servedTier = chunk.service_tier;
    const choice = chunk.choices.find((candidate) => candidate.index === 0);
    if (!choice) return out;
    const delta = choice.delta as DeltaWithReasoning | undefined;
    if (delta) {
      const reasoning = delta.reasoning ?? delta.reasoning_content;
      if (typeof reasoning === 'string' && reasoning.length > 0) this.reasoningDelta(reasoning, out);
      if (typeof delta.content === 'string' && delta.content.length > 0) this.textDelta('output_text', delta.content, toLogprobs(choice.logprobs?.content), out);
      if (typeof delta.refusal === 'string' && delta.refusal.length > 0) this.textDelta('refusal', delta.refusal, [], out);
      for (const call of delta.tool_calls ?? []) this.toolCallDelta(call, out);
    }
    if (choice.finish_reason) this.finishReason = choice.finish_reason;
    return out;
  }

  private reasoningDelta(text: string, out: ServerEvent[]): void {
    let open = this.open;
    if (open?.kind !== 'reasoning') {
      this.close('completed', out);
      const item: ReasoningItem = { id: this.options.ids('rs_'), type: 'reasoning', summary: [] };
      open = { kind: 'reasoning', outputIndex: this.response.output.length, item, text: '' };
      this.open = open;
      this.response.output.push(item);
      this.emit({ type: 'response.output_item.added', output_index: open.outputIndex, item }, out);
      if (this.options.summarizeReasoning) {
        item.summary.push({ type: 'summary_text', text: '' });
        this.emit({ type: 'response.reasoning_summary_part.added', item_id: item.id, output_index: open.outputIndex, summary_index: 0, part: { type: 'summary_text', text: '' } }, out);
      } else {
        item.content = [{ type: 'reasoning_text', text: '' }];
        this.emit({ type: 'response.content_part.added', item_id: item.id, output_index: open.outputIndex, content_index: 0, part: { type: 'reasoning_text', text: '' } }, out);
      }
    }
    open.text += text;
    const { item, outputIndex } = open;
    if (this.options.summarizeReasoning) {
      item.summary[0]!.text = open.text;
      this.emit({ type: 'response.reasoning_summary_text.delta', item_id: item.id, output_index: outputIndex, summary_index: 0, delta: text }, out);
    } else {
      item.content![0]!.text = open.text;
      this.emit({ type: 'response.reasoning_text.delta', item_id: item.id, output_index: outputIndex, content_index: 0, delta: text }, out);
    }
  }

  private textDelta(kind: 'output_text' | 'refusal', text: string, logprobs: Logprob[], out: ServerEvent[]): void {
    let open = this.open;
    if (open?.kind !== 'message') {
      this.close('completed', out);
      const item: OutputMessage = { id: this.options.ids('msg_'), type: 'message', status: 'in_progress', content: [], role: 'assistant' };
      this.response.output.push(item);
      open = { kind: 'message', outputIndex: this.response.output.length - 1, item, part: undefined as unknown as ResponseOutputText };
      this.open = open;
      this.emit({ type: 'response.output_item.added', output_index: open.outputIndex, item }, out);
      this.openPart(open, kind, out);
    } else if (open.part.type !== kind) {
      this.closePart(open, out);
      this.openPart(open, kind, out);
    }
    if (text === '') return;
    const contentIndex = open.item.content.length - 1;
    const base = { item_id: open.item.id, output_index: open.outputIndex, content_index: contentIndex };
    if (open.part.type === 'output_text') {
      open.part.text += text;
      open.part.logprobs!.push(...logprobs);
      this.emit({ type: 'response.output_text.delta', ...base, delta: text, logprobs }, out);
    } else {
      open.part.refusal += text;
      this.emit({ type: 'response.refusal.delta', ...base, delta: text }, out);
    }
  }

  private openPart(open: Extract<OpenItem, { kind: 'message' }>, kind: 'output_text' | 'refusal', out: ServerEvent[]): void {
    const part: ResponseOutputText | ResponseOutputRefusal =
      kind === 'output_text' ? { type: 'output_text', annotations: [], logprobs: [], text: '' } : { type: 'refusal', refusal: '' };
    open.part = part;
    open.item.content.push(part);
    this.emit({ type: 'response.content_part.added', item_id: open.item.id, output_index: open.outputIndex, content_index: open.item.content.length - 1, part }, out);
  }

  private closePart(open: Extract<OpenItem, { kind: 'message' }>, out: ServerEvent[]): void {
    const base = { item_id: open.item.id, output_index: open.outputIndex, content_index: open.item.content.length - 1 };
    const part = open.part;
    if (part.type === 'output_text') this.emit({ type: 'response.output_text.done', ...base, text: part.text, logprobs: part.logprobs ?? [] }, out);
    else this.emit({ type: 'response.refusal.done', ...base, refusal: part.refusal }, out);
    this.emit({ type: 'response.content_part.done', ...base, part }, out);
  }

  /** `force`: the held calls are being written out (something else starts, or the stream ends): none is held again. */
  private toolCallDelta(call: ChatCompletionChunk.Choice.Delta.ToolCall, out: ServerEvent[], force = false): void {
    const open = this.open;
    const openCall = open?.kind === 'function_call' ? open : undefined;
    if (!force && (this.held.length > 0 || (openCall && !this.calls.has(call.index) && !isWholeJson(openCall.item.arguments))) && call.index !== openCall?.toolIndex) {
      this.held.push(call);
      return;
    }
    let known = this.calls.get(call.index);
    if (!known) {
      this.close('completed', out);
      const item: FunctionCallItem = {
        id: this.options.ids('fc_'),
        type: 'function_call',
        status: 'in_progress',
        arguments: '',
        call_id: call.id || this.options.ids('call_'),
        name: call.function?.name ?? '',
      };
      known = { outputIndex: this.response.output.length, item };
      this.calls.set(call.index, known);
      this.response.output.push(item);
      this.open = { kind: 'function_call', outputIndex: known.outputIndex, item, toolIndex: call.index };
      this.emit({ type: 'response.output_item.added', output_index: known.outputIndex, item }, out);
    } else if (call.function?.name) {
      // A backend that streams the name in pieces: the added event had its start.
      known.item.name += call.function.name;
    }
    const fragment = call.function?.arguments;
    if (fragment) {
      known.item.arguments += fragment;
      this.emit({ type: 'response.function_call_arguments.delta', item_id: known.item.id, output_index: known.outputIndex, delta: fragment }, out);
    }
    // The open call's arguments are whole: the calls held behind it go on.
    if (!force && this.held.length > 0 && this.open?.kind === 'function_call' && isWholeJson(this.open.item.arguments)) {
      const held = this.held;
      this.held = [];
      for (const next of held) this.toolCallDelta(next, out);
    }
  }

  /** Closes the open item with its done events. */
  private close(status: ItemStatus, out: ServerEvent[]): void {
    if (this.held.length > 0) {
      // Held calls are written out first, each closing the one before.
      const held = this.held;
      this.held = [];
      for (const call of held) this.toolCallDelta(call, out, true);
    }
    const open = this.open;
    if (!open) return;
    this.open = undefined;
    switch (open.kind) {
      case 'message':
        this.closePart(open, out);
        open.item.status = status;
        break;
      case 'function_call':
        open.item.status = status;
        this.emit(
          { type: 'response.function_call_arguments.done', item_id: open.item.id, output_index: open.outputIndex, name: open.item.name, arguments: open.item.arguments },
          out,
        );
        break;
      case 'reasoning': {
        const base = { item_id: open.item.id, output_index: open.outputIndex };
        if (this.options.summarizeReasoning) {
          const part = open.item.summary[0]!;
          this.emit({ type: 'response.reasoning_summary_text.done', ...base, summary_index: 0, text: part.text }, out);
          this.emit({ type: 'response.reasoning_summary_part.done', ...base, summary_index: 0, part }, out);
        } else {
          const part = open.item.content![0]!;
          this.emit({ type: 'response.reasoning_text.done', ...base, content_index: 0, text: part.text }, out);
          this.emit({ type: 'response.content_part.done', ...base, content_index: 0, part }, out);
        }
        break;
      }
      default: {
        const unexpected: never = open;
        void unexpected;
      }
    }
    this.emit({ type: 'response.output_item.done', output_index: open.outputIndex, item: open.item }, out);
  }

  /**
   * The finished response names the tier that served it, as OpenAI's does: the backend's word
   * when it gave one; else the one asked for, `auto` (a request, not a tier) being `default`.
   */
  private settleTier(): void {
    const tier: string | null | undefined = this.servedTier ?? this.response.service_tier;
    // Fast mode is served at `priority`, and OpenAI's response says so.
    this.response.service_tier = (tier === 'auto' || tier == null ? 'default' : tier === 'fast' ? 'priority' : tier) as ResponseObject['service_tier'];
  }

  private visibleText(): string {
    let text = '';
    for (const item of this.response.output) {
      if (item.type === 'message') for (const part of item.content) text += part.type === 'output_text' ? part.text : part.refusal;
      else if (item.type === 'function_call') text += item.name + item.arguments;
      else if (item.type === 'reasoning') text += [...item.summary, ...(item.content ?? [])].map((part) => part.text).join('');
    }
    return text;
  }

  /**
   * The stream ended: the open item closes, and the response completes, or is incomplete when the
   * output limit (`length`) or a content filter cut it.
   */
  finish(): ServerEvent[] {
    const out: ServerEvent[] = [];
    this.start(undefined, out);
    const reason = this.finishReason;
    const cut = reason === 'length' || reason === 'content_filter';
    // A reply with nothing at all in it is still an (empty) assistant message, as chat gives `content: ""`.
    if (this.response.output.length === 0 && !this.open) this.textDelta('output_text', '', [], out);
    this.close(cut ? 'incomplete' : 'completed', out);
    const response = this.response;
    this.settleTier();
    response.usage = responseUsage(this.usage ?? this.options.estimateUsage(this.visibleText()));
    if (cut) {
      response.status = 'incomplete';
      response.incomplete_details = { reason: reason === 'length' ? 'max_output_tokens' : 'content_filter' };
      this.emit({ type: 'response.incomplete', response: this.snapshot() }, out);
    } else {
      response.status = 'completed';
      response.completed_at = Math.floor(this.now() / 1000);
      this.emit({ type: 'response.completed', response: this.snapshot() }, out);
    }
    return out;
  }

  /**
   * The backend failed after the stream started: the open item is left incomplete, the response
   * fails with the error (`response.failed`), and an `error` event says what went wrong.
   */
  fail(error: SwitchyardError): ServerEvent[] {
    const out: ServerEvent[] = [];
    this.start(undefined, out);
    const open = this.open;
    // Calls held behind the open one never started: the failed response has none of them.
    this.held = [];
    if (open) {
      open.item.status = 'incomplete';
      this.open = undefined;
    }
    const response = this.response;
    this.settleTier();
    response.status = 'failed';
    response.error = { code: errorCode(error), message: error.message };
    if (this.usage) response.usage = responseUsage(this.usage);
    this.emit({ type: 'response.failed', response: this.snapshot() }, out);
    this.emit({ type: 'error', code: String(error.code), message: error.message, param: error.param }, out);
    return out;
  }
}

/**
 * A collected chat completion as the chunks that would have made it, so a non-streamed call goes
 * through the same builder as a streamed one.
 */
export function completionChunks(completion: ChatCompletion): ChatCompletionChunk[] {
  const base = {
    id: completion.id,
    object: 'chat.completion.chunk' as const,
    created: completion.created,
    model: completion.model,
    ...(completion.service_tier ? { service_tier: completion.service_tier } : {}),
  };
  const choice = completion.choices.find((candidate) => candidate.index === 0) ?? completion.choices[0];
  const chunks: ChatCompletionChunk[] = [];
  if (choice) {
    const message = choice.message as ChatCompletion.Choice['message'] & { reasoning?: string; reasoning_content?: string };
    const delta: DeltaWithReasoning = { role: 'assistant' };
    const reasoning = message.reasoning ?? message.reasoning_content;
    if (reasoning) delta.reasoning = reasoning;
    if (message.content) delta.content = message.content;
    if (message.refusal) delta.refusal = message.refusal;
    const calls = (message.tool_calls ?? []).filter((call) => call.type === 'function');
    if (calls.length > 0) {
      delta.tool_calls = calls.map((call, index) => ({ index, id: call.id, type: 'function', function: { name: call.function.name, arguments: call.function.arguments } }));
    }
    chunks.push({ ...base, choices: [{ index: 0, delta, logprobs: choice.logprobs ?? null, finish_reason: choice.finish_reason }] });
  }
  if (completion.usage) chunks.push({ ...base, choices: [], usage: completion.usage });
  return chunks;
}

/** Arguments that are a whole JSON value: nothing can be added to them and stay JSON. */
function isWholeJson(text: string): boolean {
  if (text === '') return false;
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}
