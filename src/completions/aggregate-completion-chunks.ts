import type { Completion, CompletionChoice } from 'openai/resources/completions';
import type { TextCompletionChunk } from '../providers/provider.js';

interface ChoiceState {
  text: string;
  finishReason: CompletionChoice['finish_reason'] | null;
  logprobs: Required<CompletionChoice.Logprobs> | null;
}

/**
 * Collects a legacy completion stream into the one `text_completion` object: text joined per
 * choice, logprob lists concatenated, the last finish reason, the usage event's usage. The same
 * reply whether the client streamed it or not.
 */
export async function aggregateCompletionChunks(chunks: AsyncIterable<TextCompletionChunk>): Promise<Completion> {
  let first: TextCompletionChunk | undefined;
  let usage: Completion['usage'];
  const choices = new Map<number, ChoiceState>();
  for await (const chunk of chunks) {
    first ??= chunk;
    if (chunk.usage) usage = chunk.usage;
    for (const choice of chunk.choices) {
      let state = choices.get(choice.index);
      if (!state) {
        state = { text: '', finishReason: null, logprobs: null };
        choices.set(choice.index, state);
      }
      state.text += choice.text ?? '';
      if (choice.finish_reason) state.finishReason = choice.finish_reason;
      if (choice.logprobs) {
        state.logprobs ??= { tokens: [], token_logprobs: [], top_logprobs: [], text_offset: [] };
        state.logprobs.tokens.push(...(choice.logprobs.tokens ?? []));
        state.logprobs.token_logprobs.push(...(choice.logprobs.token_logprobs ?? []));
        state.logprobs.top_logprobs.push(...(choice.logprobs.top_logprobs ?? []));
        state.logprobs.text_offset.push(...(choice.logprobs.text_offset ?? []));
      }
    }
  }
  if (!first) throw new Error('A completion stream ended without any event.');
  const completion: Completion = {
    id: first.id,
    object: 'text_completion',
    created: first.created,
    model: first.model,
    choices: [...choices.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([index, state]) => ({ text: state.text, index, logprobs: state.logprobs, finish_reason: state.finishReason ?? 'stop' })),
  };
  if (first.system_fingerprint !== undefined) completion.system_fingerprint = first.system_fingerprint;
  if (usage) completion.usage = usage;
  return completion;
}
