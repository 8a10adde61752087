import type { ChatCompletionChunk } from 'openai/resources/chat/completions';
import type { CompletionUsage } from 'openai/resources/completions';
import { SwitchyardError, toSwitchyardError } from '../../errors/errors.js';
import type { ChatRequest } from '../../providers/provider.js';
import { randomId } from '../../util/ids.js';
import { formatParam } from '../../http/validation/format-issue.js';
import { audioField, ClientEventSchema, type ResponseOverrides, type RealtimeItemInput, type SessionUpdate } from './client-events.js';
import { checkImageParts, toChatRequest } from './to-chat-request.js';

export type RealtimeItem = RealtimeItemInput & { id: string };

export interface SessionState {
  instructions: string;
  tools: Array<{ name: string; description?: string | undefined; parameters?: Record<string, unknown> | undefined }>;
  tool_choice: 'auto' | 'none' | 'required' | { type: 'function'; name: string } | undefined;
  max_output_tokens: number | 'inf';
  temperature: number | undefined;
}

type ServerEvent = { type: string } & Record<string, unknown>;

export interface RealtimeSessionOptions {
  model: string;
  /** Clients that sent `OpenAI-Beta: realtime=v1` get the beta event names. */
  beta: boolean;
  send(event: ServerEvent): void;
  /**
   * Runs one chat call (platform admission + `gateway.chat()`), returning its chunks and a release
   * for the admission; throws before the first chunk as the gateway does.
   */
  runChat(request: ChatRequest, signal: AbortSignal): Promise<{ chunks: AsyncIterable<ChatCompletionChunk>; release(): void }>;
}

/**
 * The most the items a client added may weigh together, in characters of their events: far beyond
 * any model's context, and a bound on what one socket holds (at 50 events a second of 4 MB each,
 * an unbounded conversation grows by 200 MB a second).
 */
export const MAX_CONVERSATION_CHARS = 16 * 1024 * 1024;

/**
 * Responses one socket may run at once: the one writing to the conversation and out-of-band ones
 * (`conversation: "none"`), which the spec lets run in parallel. Each holds a backend call.
 */
export const MAX_PARALLEL_RESPONSES = 8;

interface Running {
  id: string;
  /** Writes its output to the default conversation (not `conversation: "none"`). */
  inConversation: boolean;
  controller: AbortController;
  done: Promise<void>;
}

/**
 * One Realtime socket's state: the session, the conversation (ordered items), the responses in
 * progress (at most one writing to the conversation, out-of-band ones beside it). No I/O of its own: events go out through `send`, chat calls through `runChat`.
 * The conversation lives as long as the socket, as OpenAI's does.
 */
export class RealtimeSession {
  readonly id = randomId('sess_');
  private readonly conversationId = randomId('conv_');
  private state: SessionState = { instructions: '', tools: [], tool_choice: undefined, max_output_tokens: 'inf', temperature: undefined };
  private readonly items: RealtimeItem[] = [];
  /** The size of each item the client added, and their sum. */
  private readonly clientItemChars = new Map<string, number>();
  private heldChars = 0;
  /** Output items a response is still writing: retrieved meanwhile, they are `in_progress`. */
  private readonly streaming = new Set<string>();
  /** Responses in progress, by id. */
  private readonly running = new Map<string, Running>();

  constructor(private readonly options: RealtimeSessionOptions) {}

  private event(type: string, fields: Record<string, unknown>): void {
    this.options.send({ type, event_id: randomId('event_'), ...fields });
  }

  /** An `error` event; the client's `event_id` travels inside it so the client can match it. */
  error(error: SwitchyardError, clientEventId?: string): void {
    this.event('error', { error: { type: error.type, code: error.code, message: error.message, param: error.param, event_id: clientEventId ?? null } });
  }

  sessionObject(): Record<string, unknown> {
    const s = this.state;
    return {
      id: this.id,
      object: 'realtime.session',
      type: 'realtime',
      model: this.options.model,
      instructions: s.instructions,
      output_modalities: ['text'],
      ...(this.options.beta ? { modalities: ['text'] } : {}),
      tools: s.tools.map((tool) => ({ type: 'function', ...tool })),
      tool_choice: s.tool_choice ?? 'auto',
      max_output_tokens: s.max_output_tokens,
      ...(s.temperature !== undefined ? { temperature: s.temperature } : {}),
    };
  }

  start(): void {
    this.event('session.created', { session: this.sessionObject() });
  }

  /** Handles one message from the client: never throws; bad input is an `error` event. */
  handle(raw: string): void {
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      return this.error(new SwitchyardError('invalid_json', 'The event is not valid JSON.', { param: null }));
    }
    const clientEventId = typeof (parsed as { event_id?: unknown })?.event_id === 'string' ? (parsed as { event_id: string }).event_id : undefined;
    const type = (parsed as { type?: unknown })?.type;
    if (typeof type === 'string' && /audio/.test(type)) {
      return this.error(new SwitchyardError('unsupported_parameter', `Switchyard serves the Realtime API for text only: '${type}' is not served.`, { param: 'type' }), clientEventId);
    }
    const result = ClientEventSchema.safeParse(parsed);
    if (!result.success) {
      const issue = result.error.issues[0]!;
      // Named as the chat route names a field: `session.tools[0].name`.
      const param = formatParam(issue.path) ?? 'type';
      const message =
        issue.path[0] === 'type' || issue.path.length === 0
          ? `Invalid 'type': ${typeof type === 'string' ? `'${type}' is not a client event Switchyard serves` : 'a string naming the event is required'}.`
          : `Invalid '${param}': ${issue.message}.`;
      return this.error(new SwitchyardError('invalid_value', message, { param }), clientEventId);
    }
    const event = result.data;
    try {
      switch (event.type) {
        case 'session.update':
          return this.update(event.session, 'session');
        case 'conversation.item.create':
          return this.addItem(event.item, event.previous_item_id, raw.length);
        case 'conversation.item.delete':
          return this.deleteItem(event.item_id);
        case 'conversation.item.retrieve':
          return this.event('conversation.item.retrieved', { item: this.itemObject(this.find(event.item_id)) });
        case 'response.create':
          return this.createResponse(event.response, clientEventId);
        case 'response.cancel':
          return this.cancel(event.response_id);
        default: {
          const unreachable: never = event;
          return unreachable;
        }
      }
    } catch (error) {
      this.error(toSwitchyardError(error), clientEventId);
    }
  }

  private update(session: SessionUpdate, at: string): void {
    const audio = audioField(session, at);
    if (audio) throw new SwitchyardError('unsupported_parameter', `Switchyard serves the Realtime API for text only: '${audio}' asks for audio.`, { param: audio });
    this.state = mergeSession(this.state, session);
    this.event('session.updated', { session: this.sessionObject() });
  }

  /** The item with this id; unknown, an error naming the field that gave the id. */
  private find(id: string, param = 'item_id'): RealtimeItem {
    const item = this.items.find((candidate) => candidate.id === id);
    if (!item) throw new SwitchyardError('not_found', `Item with ${param} '${id}' not found in the conversation.`, { param });
    return item;
  }

  private itemObject(item: RealtimeItem): Record<string, unknown> {
    const base = { ...item, object: 'realtime.item', status: this.streaming.has(item.id) ? 'in_progress' : 'completed' };
    if (item.type !== 'message' || !this.options.beta) return base;
    // Beta clients know assistant text parts as `text`.
    return { ...base, content: item.content.map((part) => (part.type === 'output_text' ? { ...part, type: 'text' } : part)) };
  }

  private announce(item: RealtimeItem, previous: string | null): void {
    if (this.options.beta) {
      this.event('conversation.item.created', { previous_item_id: previous, item: this.itemObject(item) });
    } else {
      this.event('conversation.item.added', { previous_item_id: previous, item: this.itemObject(item) });
      this.event('conversation.item.done', { previous_item_id: previous, item: this.itemObject(item) });
    }
  }

  private addItem(input: RealtimeItemInput, previousId: string | null | undefined, chars: number): void {
    if (this.heldChars + chars > MAX_CONVERSATION_CHARS) {
      throw new SwitchyardError(
        'request_too_large',
        `The conversation holds ${(this.heldChars / (1024 * 1024)).toFixed(1)} MB of items; a session keeps at most ${MAX_CONVERSATION_CHARS / (1024 * 1024)} MB. Delete items (conversation.item.delete) before adding more.`,
        { param: 'item' },
      );
    }
    if (input.type === 'message') {
      const audio = input.content.findIndex((part) => /audio/.test(part.type));
      if (audio !== -1) throw new SwitchyardError('unsupported_parameter', 'Switchyard serves the Realtime API for text only: audio content is not served.', { param: `item.content[${audio}].type` });
    }
    checkImageParts(input, 'item');
    const item = { ...input, id: input.id ?? randomId('item_') } as RealtimeItem;
    if (this.items.some((existing) => existing.id === item.id)) throw new SwitchyardError('invalid_value', `An item with id '${item.id}' already exists.`, { param: 'item.id' });
    let at = this.items.length;
    // "If set to `root`, the new item will be added to the beginning of the conversation" (the spec).
    if (previousId === null || previousId === 'root') at = 0;
    else if (previousId !== undefined) at = this.items.indexOf(this.find(previousId, 'previous_item_id')) + 1;
    this.items.splice(at, 0, item);
    this.clientItemChars.set(item.id, chars);
    this.heldChars += chars;
    this.announce(item, at === 0 ? null : this.items[at - 1]!.id);
  }

  private deleteItem(id: string): void {
    this.items.splice(this.items.indexOf(this.find(id)), 1);
    this.heldChars -= this.clientItemChars.get(id) ?? 0;
    this.clientItemChars.delete(id);
    this.event('conversation.item.deleted', { item_id: id });
  }

  /** The response named, or without an id the one writing to the conversation (else the only one running). */
  private cancel(responseId: string | undefined): void {
    const all = [...this.running.values()];
    const running = responseId !== undefined ? this.running.get(responseId) : (all.find((candidate) => candidate.inConversation) ?? (all.length === 1 ? all[0] : undefined));
    if (!running) {
      throw new SwitchyardError('not_found', responseId ? `No response '${responseId}' is in progress.` : 'No response is in progress.', { param: 'response_id' });
    }
    running.controller.abort();
  }

  /** Whether a response is in progress: the socket is not idle meanwhile, however quiet the backend. */
  get responding(): boolean {
    return this.running.size > 0;
  }

  /** Ends the running responses (the socket closed): their backend calls are cancelled at once. */
  async close(): Promise<void> {
    const all = [...this.running.values()];
    for (const running of all) running.controller.abort();
    await Promise.all(all.map((running) => running.done));
  }

  private createResponse(overrides: ResponseOverrides | undefined, clientEventId: string | undefined): void {
    const outOfBand = overrides?.conversation === 'none';
    // "Only one Response can write to the default Conversation at a time, but otherwise multiple
    // Responses can be created in parallel" (the spec).
    const writer = [...this.running.values()].find((candidate) => candidate.inConversation);
    if (!outOfBand && writer) {
      throw new SwitchyardError('conversation_already_has_active_response', `Conversation already has an active response in progress: ${writer.id}. Wait until the response is finished before creating a new one.`, { param: null });
    }
    if (this.running.size >= MAX_PARALLEL_RESPONSES) {
      throw new SwitchyardError('rate_limit_exceeded', `At most ${MAX_PARALLEL_RESPONSES} responses may be in progress at once on a session; wait for one to finish.`, { param: null });
    }
    const audio = audioField(overrides, 'response');
    if (audio) throw new SwitchyardError('unsupported_parameter', `Switchyard serves the Realtime API for text only: '${audio}' asks for audio.`, { param: audio });
    const session = overrides ? mergeSession(this.state, overrides) : this.state;
    overrides?.input?.forEach((item, index) => checkImageParts(item, `response.input[${index}]`));
    const items = overrides?.input
      ? overrides.input.map((item, index) =>
          item.type === 'item_reference' ? this.find(item.id, `response.input[${index}].id`) : ({ ...item, id: item.id ?? randomId('item_') } as RealtimeItem),
        )
      : this.items;
    const request = toChatRequest(this.options.model, session, items);
    const id = randomId('resp_');
    const controller = new AbortController();
    const running: Running = { id, inConversation: !outOfBand, controller, done: Promise.resolve() };
    this.running.set(id, running);
    running.done = this.runResponse(id, request, session, overrides?.metadata ?? undefined, outOfBand, controller.signal, clientEventId).finally(() => {
      this.running.delete(id);
    });
  }

  private async runResponse(
    id: string,
    request: ChatRequest,
    session: SessionState,
    metadata: Record<string, string> | undefined,
    outOfBand: boolean,
    signal: AbortSignal,
    clientEventId: string | undefined,
  ): Promise<void> {
    const beta = this.options.beta;
    const output: Array<Record<string, unknown>> = [];
    const response = (status: string, extra: Record<string, unknown> = {}) => ({
      id,
      object: 'realtime.response',
      status,
      status_details: null,
      output,
      conversation_id: outOfBand ? null : this.conversationId,
      output_modalities: ['text'],
      max_output_tokens: session.max_output_tokens,
      metadata: metadata ?? null,
      usage: null,
      ...extra,
    });
    this.event('response.created', { response: response('in_progress') });

    // The open output items, by kind: one text message, and one function call per tool-call index.
    let message: { item: RealtimeItem & { type: 'message' }; index: number; text: string } | undefined;
    const calls = new Map<number, { item: RealtimeItem & { type: 'function_call' }; index: number }>();
    const where = (itemId: string, index: number) => ({ response_id: id, item_id: itemId, output_index: index });
    const addOutput = (item: RealtimeItem) => {
      this.streaming.add(item.id);
      const index = output.length;
      output.push({ ...this.itemObject(item), status: 'in_progress' });
      this.event('response.output_item.added', { response_id: id, output_index: index, item: output[index] });
      if (!outOfBand) {
        const previous = this.items.at(-1)?.id ?? null;
        this.items.push(item);
        if (beta) this.event('conversation.item.created', { previous_item_id: previous, item: output[index] });
        else this.event('conversation.item.added', { previous_item_id: previous, item: output[index] });
      }
      return index;
    };
    const finishOutput = (item: RealtimeItem, index: number, status: 'completed' | 'incomplete') => {
      this.streaming.delete(item.id);
      output[index] = { ...this.itemObject(item), status };
      this.event('response.output_item.done', { response_id: id, output_index: index, item: output[index] });
      // An item the client deleted meanwhile is no longer in the conversation to be done in.
      if (!outOfBand && !beta && this.items.some((candidate) => candidate.id === item.id)) this.event('conversation.item.done', { item: output[index] });
    };
    const partType = beta ? 'text' : 'output_text';
    const closeMessage = (status: 'completed' | 'incomplete') => {
      if (!message) return;
      const { item, index, text } = message;
      item.content = [{ type: 'output_text', text }];
      this.event(beta ? 'response.text.done' : 'response.output_text.done', { ...where(item.id, index), content_index: 0, text });
      this.event('response.content_part.done', { ...where(item.id, index), content_index: 0, part: { type: partType, text } });
      finishOutput(item, index, status);
      message = undefined;
    };
    const closeCalls = (status: 'completed' | 'incomplete') => {
      for (const { item, index } of calls.values()) {
        this.event('response.function_call_arguments.done', { ...where(item.id, index), call_id: item.call_id, name: item.name, arguments: item.arguments });
        finishOutput(item, index, status);
      }
      calls.clear();
    };

    let usage: CompletionUsage | undefined;
    let finish: string | null = null;
    let release: (() => void) | undefined;
    try {
      const run = await this.options.runChat(request, signal);
      release = run.release;
      for await (const chunk of run.chunks) {
        if (chunk.usage) usage = chunk.usage;
        const choice = chunk.choices[0];
        if (!choice) continue;
        const delta = choice.delta;
        if (delta.content) {
          if (!message) {
            const item = { id: randomId('item_'), type: 'message', role: 'assistant', content: [] } as unknown as RealtimeItem & { type: 'message' };
            const index = addOutput(item);
            message = { item, index, text: '' };
            this.event('response.content_part.added', { ...where(item.id, index), content_index: 0, part: { type: partType, text: '' } });
          }
          message.text += delta.content;
          // What `conversation.item.retrieve` shows of it meanwhile: the text so far.
          message.item.content = [{ type: 'output_text', text: message.text }] as never;
          this.event(beta ? 'response.text.delta' : 'response.output_text.delta', { ...where(message.item.id, message.index), content_index: 0, delta: delta.content });
        }
        for (const call of delta.tool_calls ?? []) {
          let open = calls.get(call.index);
          if (!open) {
            closeMessage('completed');
            const item = { id: randomId('item_'), type: 'function_call', call_id: call.id ?? randomId('call_'), name: call.function?.name ?? '', arguments: '' } as RealtimeItem & { type: 'function_call' };
            open = { item, index: addOutput(item) };
            calls.set(call.index, open);
          }
          const fragment = call.function?.arguments ?? '';
          if (fragment) {
            open.item.arguments += fragment;
            this.event('response.function_call_arguments.delta', { ...where(open.item.id, open.index), call_id: open.item.call_id, delta: fragment });
          }
        }
        if (choice.finish_reason) finish = choice.finish_reason;
      }
      const status = finish === 'length' ? 'incomplete' : 'completed';
      closeMessage(status);
      closeCalls(status);
      this.event('response.done', {
        response: response(status, {
          ...(status === 'incomplete' ? { status_details: { type: 'incomplete', reason: 'max_output_tokens' } } : {}),
          usage: realtimeUsage(usage),
        }),
      });
    } catch (error) {
      closeMessage('incomplete');
      closeCalls('incomplete');
      if (signal.aborted) {
        this.event('response.done', { response: response('cancelled', { status_details: { type: 'cancelled', reason: 'client_cancelled' }, usage: realtimeUsage(usage) }) });
        return;
      }
      const failure = toSwitchyardError(error);
      this.event('response.done', {
        response: response('failed', { status_details: { type: 'failed', error: { type: failure.type, code: failure.code, message: failure.message } }, usage: realtimeUsage(usage) }),
      });
      this.error(failure, clientEventId);
    } finally {
      release?.();
    }
  }
}

function mergeSession(state: SessionState, update: SessionUpdate): SessionState {
  const max = update.max_output_tokens ?? update.max_response_output_tokens;
  return {
    instructions: update.instructions ?? state.instructions,
    tools: update.tools ? update.tools.map(({ name, description, parameters }) => ({ name, description, parameters })) : state.tools,
    tool_choice: update.tool_choice ?? state.tool_choice,
    max_output_tokens: max ?? state.max_output_tokens,
    temperature: update.temperature ?? state.temperature,
  };
}

function realtimeUsage(usage: CompletionUsage | undefined): Record<string, unknown> | null {
  if (!usage) return null;
  const cached = usage.prompt_tokens_details?.cached_tokens ?? 0;
  return {
    total_tokens: usage.total_tokens,
    input_tokens: usage.prompt_tokens,
    output_tokens: usage.completion_tokens,
    input_token_details: { text_tokens: usage.prompt_tokens, audio_tokens: 0, image_tokens: 0, cached_tokens: cached },
    output_token_details: { text_tokens: usage.completion_tokens, audio_tokens: 0 },
  };
}
