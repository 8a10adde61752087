import { checkLogitBias, checkTokenIds } from './token-ids.js';
import { randomInt } from 'node:crypto';
import type { LlamaContextSequence, Token } from 'node-llama-cpp';
import type { ChatCompletionTokenLogprob } from 'openai/resources/chat/completions';
import type { CompletionChoice, CompletionUsage } from 'openai/resources/completions';
import { DEFAULT_COMPLETION_MAX_TOKENS, promptsOf } from '../../completions/completion-prompts.js';
import { stopSequences } from '../../chat/stop-sequences.js';
import { ClientAbortedError, UnsupportedFeatureError } from '../../errors/errors.js';
import type { CompletionRequest, TextCompletionChunk } from '../provider.js';
import { generateChoice, type GenerationEnd } from './generate-choice.js';
import { completionTooLongError, contextLengthError, type LoadedModel } from './local-model.js';
import { samplingOptions } from './sampling.js';

/** One prompt, ready for the engine: its tokens, its text (for `echo` and `text_offset`), its budget. */
export interface PreparedPrompt {
  tokens: Token[];
  text: string;
  maxTokens: number;
}

export interface PreparedCompletion {
  prompts: PreparedPrompt[];
  seed: number;
}

/** Refuses what the engine cannot honour, before any work, as OpenAI's own models refuse it. */
export function checkEngineCompletion(request: CompletionRequest): void {
  if (request.best_of != null && request.best_of > (request.n ?? 1)) {
    throw new UnsupportedFeatureError('best_of is not supported by the local engine.', 'best_of');
  }
  if (request.echo === true && request.logprobs != null) {
    throw new UnsupportedFeatureError("Setting 'echo' and 'logprobs' at the same time is not supported for this model.", 'echo');
  }
}

/**
 * Each prompt as the engine's tokens, without any chat template: text is tokenized as llama.cpp's
 * own server does (special tokens read, BOS prepended when the model asks for it); token ids are
 * taken as they are. With `suffix`, the prompt is laid out for fill-in-the-middle
 * (prefix, suffix, middle tokens), which only models that have those tokens can do.
 */
export function prepareTextCompletion(request: CompletionRequest, loaded: LoadedModel, contextSize: number): PreparedCompletion {
  const { model } = loaded;
  checkLogitBias(model, request.logit_bias);
  const prompts = promptsOf(request);
  const infill = model.tokens.infill;
  const suffix = request.suffix ?? null;
  if (suffix !== null && (infill.prefix === null || infill.suffix === null || infill.middle === null)) {
    throw new UnsupportedFeatureError(`The model \`${request.model}\` has no fill-in-the-middle tokens: 'suffix' is not supported.`, 'suffix');
  }
  const bos = model.tokens.bos;
  const prepared = prompts.map((prompt, index): PreparedPrompt => {
    const param = prompts.length === 1 ? 'prompt' : `prompt[${index}]`;
    let tokens: Token[];
    let text: string;
    if (typeof prompt === 'string') {
      tokens = prompt ? model.tokenize(prompt, true) : [];
      text = prompt;
    } else {
      checkTokenIds(model, prompt, param);
      tokens = prompt as Token[];
      text = model.detokenize(tokens, false);
    }
    if (suffix !== null) {
      tokens = [infill.prefix!, ...tokens, infill.suffix!, ...(suffix ? model.tokenize(suffix, false) : []), infill.middle!];
    }
    // llama.cpp's own rule: prepend BOS when the model asks for it and the prompt does not start with it.
    if (bos !== null && (model.tokens.shouldPrependBosToken || tokens.length === 0) && tokens[0] !== bos) tokens.unshift(bos);
    if (tokens.length === 0) tokens.push(model.tokens.eos ?? (0 as Token));
    if (tokens.length >= contextSize) throw contextLengthError(tokens.length, contextSize, 'prompt');
    const limit = request.max_tokens ?? DEFAULT_COMPLETION_MAX_TOKENS;
    // An asked max_tokens that cannot fit is OpenAI's 400; the default of 16 is cut at the context's end.
    if (request.max_tokens != null && tokens.length + limit > contextSize) throw completionTooLongError(tokens.length, limit, contextSize, 'prompt');
    return { tokens, text, maxTokens: Math.min(limit, contextSize - tokens.length) };
  });
  return { prompts: prepared, seed: request.seed ?? randomInt(2 ** 31) };
}

/** The chat form of logprobs in the legacy form, offsets counted from `offset`. */
function legacyLogprobs(entries: readonly ChatCompletionTokenLogprob[], offset: number): CompletionChoice.Logprobs {
  const out: Required<CompletionChoice.Logprobs> = { tokens: [], token_logprobs: [], top_logprobs: [], text_offset: [] };
  // Offsets count characters of the text: a character spelled over byte tokens starts where the
  // first of them stands, and moves the offset once it is whole.
  const text = new TextDecoder('utf-8');
  for (const entry of entries) {
    const name = legacyTokenName(entry);
    out.tokens.push(name);
    out.token_logprobs.push(entry.logprob);
    const top: Record<string, number> = {};
    for (const alternative of entry.top_logprobs) top[legacyTokenName(alternative)] ??= alternative.logprob;
    // The sampled token is always listed, as OpenAI lists it: up to `logprobs + 1` entries.
    top[name] ??= entry.logprob;
    out.top_logprobs.push(top);
    out.text_offset.push(offset);
    offset += text.decode(Uint8Array.from(entry.bytes ?? Buffer.from(entry.token)), { stream: true }).length;
  }
  return out;
}

/**
 * A token as the legacy logprobs name it: its text, or, for a token that is not whole UTF-8 on its
 * own (one byte of a character spelled over several), `bytes:\xc3` as OpenAI writes such tokens;
 * their text alone would be U+FFFD for every one of them.
 */
function legacyTokenName(token: { token: string; bytes: number[] | null }): string {
  const bytes = token.bytes;
  if (!bytes || Buffer.from(token.token).equals(Buffer.from(bytes))) return token.token;
  return `bytes:${bytes.map((byte) => `\\x${byte.toString(16).padStart(2, '0')}`).join('')}`;
}

export interface TextFrame {
  id: string;
  created: number;
  model: string;
}

/**
 * Generates every choice (prompt by prompt, `n` each, numbered `prompt × n + choice`) on one
 * sequence through the shared token loop, as legacy completion events, then the usage event.
 * `release` runs however the generation ends.
 */
export async function* textCompletionChunks(
  request: CompletionRequest,
  loaded: LoadedModel,
  prepared: PreparedCompletion,
  sequence: LlamaContextSequence,
  frame: TextFrame,
  signal: AbortSignal,
  release: () => void,
): AsyncGenerator<TextCompletionChunk> {
  const includeUsage = request.stream === true && request.stream_options?.include_usage === true;
  const event = (choice: CompletionChoice): TextCompletionChunk => {
    const out: TextCompletionChunk = { ...frame, object: 'text_completion', system_fingerprint: 'fp_llama_cpp', choices: [choice] };
    if (includeUsage) (out as { usage: unknown }).usage = null;
    return out;
  };
  const n = request.n ?? 1;
  const stops = stopSequences(request.stop);
  const topLogprobs = request.logprobs ?? undefined;
  let promptTokens = 0;
  let completionTokens = 0;
  let cachedTokens = 0;
  try {
    for (const [promptIndex, prompt] of prepared.prompts.entries()) {
      promptTokens += prompt.tokens.length;
      for (let choiceIndex = 0; choiceIndex < n; choiceIndex++) {
        const index = promptIndex * n + choiceIndex;
        if (request.echo === true && prompt.text) yield event({ text: prompt.text, index, logprobs: null, finish_reason: null as never });
        if (prompt.maxTokens <= 0) {
          yield event({ text: '', index, logprobs: null, finish_reason: 'length' });
          continue;
        }
        const generated: Token[] = [];
        const evaluate = await samplingOptions(request, loaded.model, prepared.seed + index, () => generated);
        const choice = generateChoice({
          sequence,
          model: loaded.model,
          promptTokens: prompt.tokens,
          evaluate,
          generated,
          maxTokens: prompt.maxTokens,
          stops,
          topLogprobs,
          startsInReasoning: false,
          parseToolCalls: false,
          json: false,
          raw: true,
          step: loaded.pool.stepOf(sequence),
          signal,
        });
        let offset = prompt.text.length;
        let end: GenerationEnd | undefined;
        try {
          for (;;) {
            const next = await choice.next();
            if (next.done) {
              end = next.value;
              break;
            }
            const generatedEvent = next.value;
            if (generatedEvent.type !== 'content') continue;
            const logprobs = generatedEvent.logprobs ? legacyLogprobs(generatedEvent.logprobs, offset) : null;
            offset += generatedEvent.text.length;
            if (generatedEvent.text || logprobs) yield event({ text: generatedEvent.text, index, logprobs, finish_reason: null as never });
          }
        } finally {
          // A consumer that stopped early must still stop the engine's loop and free its state.
          if (!end) await choice.return(undefined as never);
        }
        completionTokens += end.completionTokens;
        if (index === 0) cachedTokens = end.cachedTokens;
        yield event({ text: '', index, logprobs: null, finish_reason: end.finishReason });
      }
    }
  } catch (error) {
    if (signal.aborted) throw new ClientAbortedError();
    throw error;
  } finally {
    release();
  }
  const usage: CompletionUsage = {
    prompt_tokens: promptTokens,
    completion_tokens: completionTokens,
    total_tokens: promptTokens + completionTokens,
    prompt_tokens_details: { cached_tokens: cachedTokens, audio_tokens: 0 },
  };
  yield { ...frame, object: 'text_completion', system_fingerprint: 'fp_llama_cpp', choices: [], usage };
}
