import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionMessageFunctionToolCall,
  ChatCompletionTokenLogprob,
} from 'openai/resources/chat/completions';

/**
 * Reasoning rides on the message under both names that clients read. `thinking_blocks` are the
 * backend's own reasoning blocks (Anthropic's thinking, with signatures), which a client sends back
 * unchanged on the assistant message of its next turn.
 */
export type AggregatedMessage = ChatCompletion.Choice['message'] & { reasoning?: string; reasoning_content?: string; thinking_blocks?: unknown[] };

interface ChoiceState {
  content: string | null;
  refusal: string | null;
  reasoning: string | null;
  thinkingBlocks: unknown[];
  toolCalls: ChatCompletionMessageFunctionToolCall[];
  finishReason: ChatCompletion.Choice['finish_reason'] | null;
  logprobContent: ChatCompletionTokenLogprob[] | null;
  logprobRefusal: ChatCompletionTokenLogprob[] | null;
}

/** Delta fields that are extensions to OpenAI's chunk type. */
type DeltaWithReasoning = ChatCompletionChunk.Choice.Delta & { reasoning?: string | null; reasoning_content?: string | null; thinking_blocks?: unknown };

/**
 * Collects a chunk stream into the non-streaming ChatCompletion, the one aggregator every provider
 * shares: the same reply, whether the client streamed it or not.
 */
export class ChunkAggregator {
  private first: ChatCompletionChunk | undefined;
  private readonly choices = new Map<number, ChoiceState>();
  usage: ChatCompletion['usage'] | undefined;

  add(chunk: ChatCompletionChunk): void {
    this.first ??= chunk;
    if (chunk.usage) this.usage = chunk.usage;
    for (const choice of chunk.choices) {
      let state = this.choices.get(choice.index);
      if (!state) {
        state = { content: null, refusal: null, reasoning: null, thinkingBlocks: [], toolCalls: [], finishReason: null, logprobContent: null, logprobRefusal: null };
        this.choices.set(choice.index, state);
      }
      const delta = choice.delta as DeltaWithReasoning | undefined;
      if (delta) {
        if (typeof delta.content === 'string') state.content = (state.content ?? '') + delta.content;
        if (typeof delta.refusal === 'string') state.refusal = (state.refusal ?? '') + delta.refusal;
        // Upstreams use one name or the other; some send both with the same text.
        const reasoning = delta.reasoning ?? delta.reasoning_content;
        if (typeof reasoning === 'string') state.reasoning = (state.reasoning ?? '') + reasoning;
        // Each delta carries whole blocks, in order.
        if (Array.isArray(delta.thinking_blocks)) state.thinkingBlocks.push(...(delta.thinking_blocks as unknown[]));
        for (const call of delta.tool_calls ?? []) {
          let target = state.toolCalls[call.index];
          if (!target) {
            target = { id: '', type: 'function', function: { name: '', arguments: '' } };
            state.toolCalls[call.index] = target;
          }
          if (call.id) target.id = call.id;
          if (call.function?.name) target.function.name += call.function.name;
          if (call.function?.arguments) target.function.arguments += call.function.arguments;
        }
      }
      if (choice.logprobs?.content) state.logprobContent = [...(state.logprobContent ?? []), ...choice.logprobs.content];
      if (choice.logprobs?.refusal) state.logprobRefusal = [...(state.logprobRefusal ?? []), ...choice.logprobs.refusal];
      if (choice.finish_reason) state.finishReason = choice.finish_reason;
    }
  }

  result(): ChatCompletion {
    const first = this.first;
    const choices = [...this.choices.entries()]
      .sort(([a], [b]) => a - b)
      .map(([index, state]): ChatCompletion.Choice => {
        const message: AggregatedMessage = {
          role: 'assistant',
          content: state.content,
          refusal: state.refusal,
          annotations: [],
        };
        const toolCalls = state.toolCalls.filter(Boolean);
        if (toolCalls.length > 0) {
          message.tool_calls = toolCalls;
          // OpenAI's tool-call replies have no text: `content: null`, even after a `content: ""` role delta.
          if (message.content === '') message.content = null;
        }
        if (state.reasoning !== null) {
          message.reasoning = state.reasoning;
          message.reasoning_content = state.reasoning;
        }
        if (state.thinkingBlocks.length > 0) message.thinking_blocks = state.thinkingBlocks;
        const logprobs =
          state.logprobContent || state.logprobRefusal
            ? { content: state.logprobContent, refusal: state.logprobRefusal }
            : null;
        return { index, message, finish_reason: state.finishReason ?? 'stop', logprobs };
      });
    const completion: ChatCompletion = {
      id: first?.id ?? '',
      object: 'chat.completion',
      created: first?.created ?? Math.floor(Date.now() / 1000),
      model: first?.model ?? '',
      choices,
      system_fingerprint: first?.system_fingerprint ?? null,
    } as ChatCompletion;
    if (first?.service_tier) completion.service_tier = first.service_tier;
    if (this.usage) completion.usage = this.usage;
    return completion;
  }
}

export async function aggregateChunks(chunks: AsyncIterable<ChatCompletionChunk>): Promise<ChatCompletion> {
  const aggregator = new ChunkAggregator();
  for await (const chunk of chunks) aggregator.add(chunk);
  return aggregator.result();
}
