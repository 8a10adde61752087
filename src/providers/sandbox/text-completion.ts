import { decode } from 'gpt-tokenizer';
import type { CompletionChoice, CompletionUsage } from 'openai/resources/completions';
import { countTokens, splitIntoTokensOnce } from '../../chat/token-count.js';
import { DEFAULT_COMPLETION_MAX_TOKENS, promptsOf } from '../../completions/completion-prompts.js';
import { stopSequences } from '../../chat/stop-sequences.js';
import { UnsupportedFeatureError, ValidationError } from '../../errors/errors.js';
import type { CompletionRequest, TextCompletionChunk } from '../provider.js';
import type { SandboxModel } from './plan-reply.js';
import { createRandom } from './prng.js';

const LOREM = (
  'lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore et ' +
  'dolore magna aliqua ut enim ad minim veniam quis nostrud exercitation ullamco laboris nisi ut aliquip ex'
).split(' ');

const ALTERNATIVES = [' the', ' a', ',', '.', ' and'];

/** One planned choice of a sandbox text completion. */
interface PlannedText {
  index: number;
  prompt: string;
  pieces: readonly string[];
  finishReason: 'stop' | 'length';
}

/** A prompt given as token ids, read with the sandbox's tokenizer (o200k_base). */
function promptText(prompt: string | number[], param: string): string {
  if (typeof prompt === 'string') return prompt;
  try {
    return decode(prompt);
  } catch {
    throw new ValidationError(`Invalid '${param}': the token ids are not valid for this model.`, param);
  }
}

/**
 * What a sandbox model writes after a prompt: `echo` repeats the prompt (after a space), `lorem` writes seeded
 * lorem ipsum. A `suffix` is accepted; the text written for the gap does not depend on it.
 */
function continuation(model: SandboxModel, prompt: string, random: () => number): string {
  if (model === 'echo') return prompt && !/\s$/.test(prompt) ? ` ${prompt}` : prompt;
  const words = 24 + Math.floor(random() * 40);
  let text = '';
  for (let i = 0; i < words; i++) text += ` ${LOREM[Math.floor(random() * LOREM.length)]!}`;
  return `${text}.`;
}

function cutAtStop(text: string, stops: readonly string[]): { text: string; stopped: boolean } {
  let cut = -1;
  for (const stop of stops) {
    const at = text.indexOf(stop);
    if (at !== -1 && (cut === -1 || at < cut)) cut = at;
  }
  return cut === -1 ? { text, stopped: false } : { text: text.slice(0, cut), stopped: true };
}

/** Refuses what the sandbox cannot honour, before any output, as OpenAI's own models refuse it. */
export function checkSandboxCompletion(request: CompletionRequest): void {
  if (request.best_of != null && request.best_of > (request.n ?? 1)) {
    throw new UnsupportedFeatureError('best_of is not supported by this backend.', 'best_of');
  }
  if (request.echo === true && request.logprobs != null) {
    throw new UnsupportedFeatureError("Setting 'echo' and 'logprobs' at the same time is not supported for this model.", 'echo');
  }
}

/** The choices of a request, decided by the seed: prompt by prompt, `n` each. */
export function planTextCompletion(model: SandboxModel, request: CompletionRequest, seed: number): { choices: PlannedText[]; usage: CompletionUsage } {
  const prompts = promptsOf(request);
  const n = request.n ?? 1;
  const limit = request.max_tokens ?? DEFAULT_COMPLETION_MAX_TOKENS;
  const stops = stopSequences(request.stop);
  const choices: PlannedText[] = [];
  // The n choices of an echoed prompt write the same text: split once.
  const split = splitIntoTokensOnce();
  let promptTokens = 0;
  let completionTokens = 0;
  for (const [promptIndex, prompt] of prompts.entries()) {
    const text = promptText(prompt, prompts.length === 1 ? 'prompt' : `prompt[${promptIndex}]`);
    promptTokens += typeof prompt === 'string' ? countTokens(prompt) : prompt.length;
    for (let choice = 0; choice < n; choice++) {
      const index = promptIndex * n + choice;
      const random = createRandom((seed + index * 7919) >>> 0);
      const stopped = cutAtStop(continuation(model, text, random), stops);
      const pieces = split(stopped.text);
      const cut = pieces.length > limit;
      const kept = cut ? pieces.slice(0, limit) : pieces;
      completionTokens += kept.length;
      choices.push({ index, prompt: text, pieces: kept, finishReason: cut ? 'length' : 'stop' });
    }
  }
  return {
    choices,
    usage: { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens },
  };
}

export interface TextFrame {
  id: string;
  created: number;
  model: string;
  includeUsage: boolean;
}

/**
 * The events of a planned completion: for each choice the prompt first when echoed, a text event
 * per token, and an empty event with the finish reason; then one usage event (`choices: []`).
 */
export function* textCompletionChunks(
  frame: TextFrame,
  planned: readonly PlannedText[],
  usage: CompletionUsage,
  options: { echo: boolean; logprobs: number | null | undefined; seed: number },
): Generator<TextCompletionChunk> {
  const event = (choice: CompletionChoice): TextCompletionChunk => {
    const out: TextCompletionChunk = {
      id: frame.id,
      object: 'text_completion',
      created: frame.created,
      model: frame.model,
      system_fingerprint: 'fp_sandbox',
      choices: [choice],
    };
    if (frame.includeUsage) (out as { usage: unknown }).usage = null;
    return out;
  };
  for (const choice of planned) {
    const random = createRandom((options.seed + choice.index) >>> 0);
    if (options.echo && choice.prompt) yield event({ text: choice.prompt, index: choice.index, logprobs: null, finish_reason: null as never });
    let offset = choice.prompt.length;
    for (const piece of choice.pieces) {
      let logprobs: CompletionChoice.Logprobs | null = null;
      if (options.logprobs != null) {
        const logprob = -Math.round(random() * 2000) / 1000;
        const top: Record<string, number> = { [piece]: logprob };
        for (let i = 0; Object.keys(top).length < options.logprobs + 1 && i < ALTERNATIVES.length; i++) top[ALTERNATIVES[i]!] ??= Math.round((logprob - 1 - i) * 1000) / 1000;
        logprobs = { tokens: [piece], token_logprobs: [logprob], top_logprobs: [top], text_offset: [offset] };
      }
      offset += piece.length;
      yield event({ text: piece, index: choice.index, logprobs, finish_reason: null as never });
    }
    yield event({ text: '', index: choice.index, logprobs: null, finish_reason: choice.finishReason });
  }
  yield { id: frame.id, object: 'text_completion', created: frame.created, model: frame.model, system_fingerprint: 'fp_sandbox', choices: [], usage };
}
