import type { ChatCompletionChunk, ChatCompletionTokenLogprob } from 'openai/resources/chat/completions';
import type { CompletionUsage } from 'openai/resources/completions';
import { countTokens } from '../../chat/token-count.js';
import { createRandom } from './prng.js';
import type { PlannedChoice } from './plan-reply.js';

export interface ChunkFrame {
  id: string;
  created: number;
  model: string;
  systemFingerprint: string;
  /** The client asked for usage: every chunk carries `usage: null`. The usage chunk itself always
   * comes, for accounting; the gateway drops it when the client did not ask. */
  includeUsage: boolean;
}

const ALTERNATIVES = [' the', ' a', ',', '.', ' and', ' of', ' to', ' in'];

function tokenLogprob(token: string, random: () => number, topCount: number): ChatCompletionTokenLogprob {
  // In thousandths, divided once: `-2.305 - 1` would print as -3.3049999999999997.
  const thousandths = Math.round(random() * 2000);
  const logprob = -thousandths / 1000;
  const top = [{ token, logprob, bytes: [...Buffer.from(token)] }];
  for (let i = 0; top.length < topCount && i < ALTERNATIVES.length; i++) {
    const alternative = ALTERNATIVES[i]!;
    if (alternative !== token) top.push({ token: alternative, logprob: -(thousandths + 1000 * (1 + i)) / 1000, bytes: [...Buffer.from(alternative)] });
  }
  return { token, logprob, bytes: [...Buffer.from(token)], top_logprobs: top.slice(0, topCount) };
}

/** Argument text cut into fragments of a few characters, as real models stream them. */
function fragments(text: string, size: number): string[] {
  const out: string[] = [];
  const characters = [...text];
  for (let i = 0; i < characters.length; i += size) out.push(characters.slice(i, i + size).join(''));
  return out;
}

export function usageOf(promptTokens: number, choices: readonly PlannedChoice[]): CompletionUsage {
  let completion = 0;
  let reasoning = 0;
  for (const choice of choices) {
    reasoning += choice.reasoning.length;
    completion += choice.reasoning.length + (choice.content?.length ?? 0);
    for (const call of choice.toolCalls) completion += countTokens(call.name) + countTokens(call.arguments);
  }
  return {
    prompt_tokens: promptTokens,
    completion_tokens: completion,
    total_tokens: promptTokens + completion,
    prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
    completion_tokens_details: { reasoning_tokens: reasoning, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
  };
}

/**
 * The chunks of a planned reply in OpenAI's order: a role delta first; reasoning, content or
 * tool-call deltas; `finish_reason` on the choice's last chunk; then, when asked, one usage chunk
 * with no choices. Choices follow one another.
 */
export function* replyChunks(
  frame: ChunkFrame,
  choices: readonly PlannedChoice[],
  logprobs: { enabled: boolean; top: number; seed: number },
  usage: CompletionUsage,
  makeCallId: () => string,
): Generator<ChatCompletionChunk> {
  const chunk = (choice: ChatCompletionChunk.Choice): ChatCompletionChunk => {
    const out: ChatCompletionChunk = {
      id: frame.id,
      object: 'chat.completion.chunk',
      created: frame.created,
      model: frame.model,
      system_fingerprint: frame.systemFingerprint,
      choices: [choice],
    };
    if (frame.includeUsage) out.usage = null;
    return out;
  };
  for (const [index, planned] of choices.entries()) {
    const random = createRandom(logprobs.seed + index);
    yield chunk({ index, delta: { role: 'assistant', content: '', refusal: null }, logprobs: null, finish_reason: null });
    for (const piece of planned.reasoning) {
      const delta = { reasoning: piece, reasoning_content: piece } as ChatCompletionChunk.Choice.Delta;
      yield chunk({ index, delta, logprobs: null, finish_reason: null });
    }
    for (const piece of planned.content ?? []) {
      yield chunk({
        index,
        delta: { content: piece },
        logprobs: logprobs.enabled ? { content: [tokenLogprob(piece, random, logprobs.top)], refusal: null } : null,
        finish_reason: null,
      });
    }
    for (const [callIndex, call] of planned.toolCalls.entries()) {
      yield chunk({
        index,
        delta: { tool_calls: [{ index: callIndex, id: makeCallId(), type: 'function', function: { name: call.name, arguments: '' } }] },
        logprobs: null,
        finish_reason: null,
      });
      for (const fragment of fragments(call.arguments, 8)) {
        yield chunk({ index, delta: { tool_calls: [{ index: callIndex, function: { arguments: fragment } }] }, logprobs: null, finish_reason: null });
      }
    }
    yield chunk({ index, delta: {}, logprobs: null, finish_reason: planned.finishReason });
  }
  {
    yield {
      id: frame.id,
      object: 'chat.completion.chunk',
      created: frame.created,
      model: frame.model,
      system_fingerprint: frame.systemFingerprint,
      choices: [],
      usage,
    };
  }
}
