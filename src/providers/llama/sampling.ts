import type { LlamaModel, SequenceEvaluateOptions, Token } from 'node-llama-cpp';
import type { ChatRequest } from '../provider.js';

/**
 * OpenAI's sampling fields as llama.cpp's: temperature (OpenAI's default of 1), top_p, the top_k
 * and min_p extensions, seed, presence/frequency penalties over the tokens generated so far, and
 * logit_bias by token id (-100 bans a token).
 */
export async function samplingOptions(
  request: Pick<ChatRequest, 'temperature' | 'top_p' | 'top_k' | 'min_p' | 'presence_penalty' | 'frequency_penalty' | 'logit_bias'>,
  model: LlamaModel,
  seed: number,
  generated: () => Token[],
  bannedTokens: readonly Token[],
): Promise<SequenceEvaluateOptions> {
  // The engine's own defaults (top-k 40, top-p 0.95) are not OpenAI's: every value is set here.
  const options: SequenceEvaluateOptions = {
    temperature: request.temperature ?? 1,
    topP: request.top_p ?? 1,
    topK: request.top_k ?? 0,
    minP: request.min_p ?? 0,
    seed,
  };
  const presence = request.presence_penalty ?? 0;
  const frequency = request.frequency_penalty ?? 0;
  if (presence !== 0 || frequency !== 0) {
    options.repeatPenalty = { punishTokens: generated, penalty: 1, presencePenalty: presence, frequencyPenalty: frequency, maxPunishTokens: 256 };
  }
  const bias = Object.entries(request.logit_bias ?? {});
  if (bias.length > 0 || bannedTokens.length > 0) {
    const { TokenBias } = await import('node-llama-cpp');
    const tokenBias = new TokenBias(model.tokenizer);
    for (const token of bannedTokens) tokenBias.set(token, 'never');
    for (const [token, value] of bias) tokenBias.set(Number(token) as Token, value <= -100 ? 'never' : { logit: value });
    options.tokenBias = tokenBias;
  }
  return options;
}
