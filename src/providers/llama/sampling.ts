import type { LlamaModel, SequenceEvaluateOptions, Token, TokenBias } from 'node-llama-cpp';
import type { ChatRequest } from '../provider.js';
import { utf8TokenBias } from './utf8-guard.js';

/**
 * OpenAI's sampling fields as llama.cpp's: temperature (OpenAI's default of 1), top_p, the top_k
 * and min_p extensions, seed, presence/frequency penalties over the tokens generated so far, and
 * logit_bias by token id (-100 bans a token). `guardedBytes` (byte value → byte-fallback token, for
 * 0x80–0xFF) are held to valid UTF-8 token by token (utf8-guard.ts): under a grammar.
 */
export async function samplingOptions(
  request: Pick<ChatRequest, 'temperature' | 'top_p' | 'top_k' | 'min_p' | 'presence_penalty' | 'frequency_penalty' | 'logit_bias'>,
  model: LlamaModel,
  seed: number,
  generated: () => Token[],
  guardedBytes?: ReadonlyMap<number, Token>,
): Promise<SequenceEvaluateOptions> {
  // The engine's own defaults (top-k 40, top-p 0.95) are not OpenAI's: every value is set here.
  const options: SequenceEvaluateOptions = {
    temperature: request.temperature ?? 1,
    topP: request.top_p ?? 1,
    topK: request.top_k ? request.top_k : NO_TOP_K,
    minP: request.min_p ?? 0,
    seed: engineSeed(seed),
  };
  const presence = request.presence_penalty ?? 0;
  const frequency = request.frequency_penalty ?? 0;
  if (presence !== 0 || frequency !== 0) {
    options.repeatPenalty = { punishTokens: generated, penalty: 1, presencePenalty: presence, frequencyPenalty: frequency, maxPunishTokens: 256 };
  }
  const bias = Object.entries(request.logit_bias ?? {});
  const clientBias = (tokenBias: TokenBias) => {
    for (const [key, value] of bias) {
      const token = Number(key) as Token;
      const logit = value <= -100 ? -Infinity : value;
      if (model.isEogToken(token)) setEndOfGenerationBias(tokenBias, token, logit);
      else tokenBias.set(token, { logit });
    }
  };
  if (guardedBytes && guardedBytes.size > 0) {
    const { TokenBias } = await import('node-llama-cpp');
    options.tokenBias = utf8TokenBias(model, TokenBias, guardedBytes, clientBias, generated);
  } else if (bias.length > 0) {
    const { TokenBias } = await import('node-llama-cpp');
    const tokenBias = new TokenBias(model.tokenizer);
    clientBias(tokenBias);
    options.tokenBias = tokenBias;
  }
  return options;
}

/**
 * No top-k step at all. node-llama-cpp reads `topK: 0` as "keep the whole vocabulary" and gives
 * llama.cpp a top-k of the vocabulary's size, which sorts every candidate on every token (on the
 * 3k-token test vocabulary, 15% of a token's time); `undefined` gets its default of 40. `null`
 * passes through to the addon as "unset", which leaves the sampler out of the chain: the draw is
 * the same distribution, read without the sort.
 */
const NO_TOP_K = null as unknown as number;

/** llama.cpp's seeds are 32-bit, and 0xFFFFFFFF among them means "pick one at random". */
const SEEDS = 0xffff_ffff;

/**
 * An OpenAI seed (any integer, negative ones too) as a llama.cpp seed in [0, 2^32 - 2]: the same
 * seed always the same one, and never the value that asks for a random seed (`seed: -1` read as
 * an unsigned 32-bit number is exactly that value).
 */
export function engineSeed(seed: number): number {
  return ((seed % SEEDS) + SEEDS) % SEEDS;
}

/**
 * OpenAI's logit_bias applies to every token, the end of text included: -100 on it is how a
 * client keeps a reply going to max_tokens, +100 how it ends one at once. node-llama-cpp's
 * `TokenBias.set` skips end-of-generation tokens, so their bias goes into its table directly
 * (the table the engine reads; a test fails should a new version move it).
 */
function setEndOfGenerationBias(tokenBias: TokenBias, token: Token, logit: number): void {
  const table = (tokenBias as unknown as { _biases?: unknown })._biases;
  if (table instanceof Map) table.set(token, logit);
}
