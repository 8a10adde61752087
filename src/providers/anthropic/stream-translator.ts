import type { ChatCompletionChunk } from 'openai/resources/chat/completions';
import { UpstreamError } from '../../errors/errors.js';
import { errorFromStreamEvent } from './anthropic-errors.js';
import { convertUsage, mergeUsage } from './convert-usage.js';
import { mapStopReason } from './map-stop-reason.js';
import type { AnthropicBlockDelta, AnthropicContentBlock, AnthropicStreamEvent, AnthropicUsage } from './wire-schemas.js';

/**
 * A finished thinking block as the client must send it back (the `thinking_blocks` extension of an
 * assistant message, read by convert-messages.ts): Anthropic refuses the next turn of a tool loop
 * with thinking on unless the assistant turn starts with its thinking blocks, signatures intact
 * (https://docs.anthropic.com/en/docs/build-with-claude/extended-thinking#preserving-thinking-blocks).
 */
export type ThinkingBlock = { type: 'thinking'; thinking: string; signature: string } | { type: 'redacted_thinking'; data: string };

type Delta = ChatCompletionChunk.Choice.Delta & { reasoning?: string; reasoning_content?: string; thinking_blocks?: ThinkingBlock[] };

/** What one of Anthropic's content blocks becomes on the OpenAI side. */
type BlockRole =
  | { kind: 'text' }
  /** Its text and signature are kept whole: the block goes back to the client in one piece when it stops. */
  | { kind: 'thinking'; text: string; signature: string }
  /** Encrypted thinking: nothing to show, but the client needs it back as it came. */
  | { kind: 'redacted'; data: string }
  /** A client tool call: `toolIndex` is its place in `tool_calls[]`, counted over tool blocks only. */
  | { kind: 'tool'; toolIndex: number; argumentsSent: boolean }
  /** The forced tool standing in for `response_format`: its input JSON is the reply's content. */
  | { kind: 'answer'; contentSent: boolean }
  /** Blocks with nothing to show (server tools, unknown kinds). */
  | { kind: 'ignored' };

export interface TranslatorOptions {
  id: string;
  created: number;
  providerId: string;
  answerTool: string | undefined;
  showReasoning: boolean;
  /** `stream_options.include_usage`: every chunk carries `"usage": null` but the last, as OpenAI's do. */
  usageNull?: boolean;
}

/**
 * Anthropic's stream events in, OpenAI chunks out, one event at a time.
 *
 * Anthropic numbers content blocks across all kinds (a thinking block 0, a text block 1, a tool
 * block 2...), while OpenAI numbers `tool_calls[]` across tool calls only. `blocks` maps each block
 * index to its role, and each tool block to its own `tool_calls[].index` in the order tools
 * started, so the numbering holds whatever blocks come first.
 */
export class StreamTranslator {
  private readonly blocks = new Map<number, BlockRole>();
  private nextToolIndex = 0;
  private model = '';
  private usage: AnthropicUsage = {};
  private stopReason: string | null | undefined;
  private started = false;
  private roleSent = false;
  private stopped = false;

  constructor(private readonly options: TranslatorOptions) {}

  /** True once `message_stop` arrived: the reply is complete. */
  get complete(): boolean {
    return this.stopped;
  }

  push(event: AnthropicStreamEvent): ChatCompletionChunk[] {
    if (this.stopped) return [];
    switch (event.type) {
      case 'message_start':
        // The role chunk waits for the first content block: an `error` event Anthropic sends between
        // message_start and any content (an `overloaded_error`, typically) then comes before the first
        // chunk, and so rejects the call, which the router can still retry or fall back from, instead
        // of ending a stream that has shown nothing.
        this.started = true;
        this.model = event.message.model;
        this.usage = mergeUsage(this.usage, event.message.usage);
        return [];
      case 'content_block_start':
        this.requireStart(event.type);
        return [...this.roleChunk(), ...this.startBlock(event.index, event.content_block)];
      case 'content_block_delta':
        this.requireStart(event.type);
        return this.blockDelta(event.index, event.delta);
      case 'content_block_stop':
        return this.stopBlock(event.index);
      case 'message_delta':
        this.requireStart(event.type);
        if (event.delta.stop_reason != null) this.stopReason = event.delta.stop_reason;
        this.usage = mergeUsage(this.usage, event.usage);
        return [];
      case 'message_stop': {
        this.requireStart(event.type);
        this.stopped = true;
        const finish = mapStopReason(this.stopReason, this.options.answerTool !== undefined);
        return [...this.roleChunk(), this.chunk({}, finish), { ...this.frame([]), usage: convertUsage(this.usage) }];
      }
      case 'ping':
        return [];
      case 'error':
        throw errorFromStreamEvent(this.options.providerId, event.error);
      default: {
        const unhandled: never = event;
        return unhandled;
      }
    }
  }

  private startBlock(index: number, block: AnthropicContentBlock): ChatCompletionChunk[] {
    switch (block.type) {
      case 'text':
        this.blocks.set(index, { kind: 'text' });
        return block.text ? [this.chunk({ content: block.text })] : [];
      case 'thinking':
        // A whole reply (replayed as events) carries the signature here; a stream sends it as a delta.
        this.blocks.set(index, { kind: 'thinking', text: block.thinking, signature: block.signature ?? '' });
        return block.thinking && this.options.showReasoning ? [this.chunk({ reasoning: block.thinking, reasoning_content: block.thinking })] : [];
      case 'redacted_thinking':
        this.blocks.set(index, { kind: 'redacted', data: block.data ?? '' });
        return [];
      case 'tool_use': {
        // Streams start a tool block with `input: {}` and send the input as deltas; a whole reply
        // (replayed as events) may carry the input here already.
        const input = hasKeys(block.input) ? JSON.stringify(block.input) : '';
        if (block.name === this.options.answerTool) {
          this.blocks.set(index, { kind: 'answer', contentSent: input !== '' });
          return input ? [this.chunk({ content: input })] : [];
        }
        const toolIndex = this.nextToolIndex++;
        this.blocks.set(index, { kind: 'tool', toolIndex, argumentsSent: input !== '' });
        return [this.chunk({ tool_calls: [{ index: toolIndex, id: block.id, type: 'function', function: { name: block.name, arguments: input } }] })];
      }
      case 'unknown':
        this.blocks.set(index, { kind: 'ignored' });
        return [];
      default: {
        const unhandled: never = block;
        return unhandled;
      }
    }
  }

  private blockDelta(index: number, delta: AnthropicBlockDelta): ChatCompletionChunk[] {
    const role = this.blocks.get(index);
    if (!role) throw malformed(this.options.providerId, `a delta for content block ${index}, which never started`);
    switch (delta.type) {
      case 'text_delta':
        return role.kind === 'text' && delta.text ? [this.chunk({ content: delta.text })] : [];
      case 'thinking_delta':
        if (role.kind !== 'thinking' || !delta.thinking) return [];
        role.text += delta.thinking;
        return this.options.showReasoning ? [this.chunk({ reasoning: delta.thinking, reasoning_content: delta.thinking })] : [];
      case 'signature_delta':
        if (role.kind === 'thinking') role.signature += delta.signature;
        return [];
      case 'input_json_delta':
        if (!delta.partial_json) return [];
        if (role.kind === 'tool') {
          role.argumentsSent = true;
          return [this.chunk({ tool_calls: [{ index: role.toolIndex, function: { arguments: delta.partial_json } }] })];
        }
        if (role.kind === 'answer') {
          role.contentSent = true;
          return [this.chunk({ content: delta.partial_json })];
        }
        return [];
      case 'unknown':
        return [];
      default: {
        const unhandled: never = delta;
        return unhandled;
      }
    }
  }

  private stopBlock(index: number): ChatCompletionChunk[] {
    const role = this.blocks.get(index);
    // Thinking the client sees is also handed back whole, to be returned on the next turn.
    if (role?.kind === 'thinking' && this.options.showReasoning) {
      return [this.chunk({ thinking_blocks: [{ type: 'thinking', thinking: role.text, signature: role.signature }] })];
    }
    if (role?.kind === 'redacted' && this.options.showReasoning) {
      return [this.chunk({ thinking_blocks: [{ type: 'redacted_thinking', data: role.data }] })];
    }
    // A tool without parameters streams no input: its arguments are still a JSON object.
    if (role?.kind === 'tool' && !role.argumentsSent) {
      role.argumentsSent = true;
      return [this.chunk({ tool_calls: [{ index: role.toolIndex, function: { arguments: '{}' } }] })];
    }
    if (role?.kind === 'answer' && !role.contentSent) {
      role.contentSent = true;
      return [this.chunk({ content: '{}' })];
    }
    return [];
  }

  /** The chunk that opens the reply, once, as OpenAI's first chunk: the role and an empty content. */
  private roleChunk(): ChatCompletionChunk[] {
    if (this.roleSent) return [];
    this.roleSent = true;
    return [this.chunk({ role: 'assistant', content: '', refusal: null })];
  }

  private requireStart(type: string): void {
    if (!this.started) throw malformed(this.options.providerId, `'${type}' before 'message_start'`);
  }

  private frame(choices: ChatCompletionChunk.Choice[]): ChatCompletionChunk {
    const chunk: ChatCompletionChunk = { id: this.options.id, object: 'chat.completion.chunk', created: this.options.created, model: this.model, choices };
    if (this.options.usageNull) chunk.usage = null;
    return chunk;
  }

  private chunk(delta: Delta, finishReason: ChatCompletionChunk.Choice['finish_reason'] = null): ChatCompletionChunk {
    return this.frame([{ index: 0, delta, logprobs: null, finish_reason: finishReason }]);
  }
}

function hasKeys(value: unknown): boolean {
  return typeof value === 'object' && value !== null && Object.keys(value).length > 0;
}

function malformed(providerId: string, what: string): UpstreamError {
  return new UpstreamError('upstream_error', `The upstream provider '${providerId}' sent a malformed stream: ${what}.`);
}
