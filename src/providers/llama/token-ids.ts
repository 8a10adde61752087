import type { LlamaModel } from 'node-llama-cpp';
import { ValidationError } from '../../errors/errors.js';

/** The model's vocabulary size, from its GGUF tokenizer; undefined when the file does not list it. */
function vocabularySize(model: LlamaModel): number | undefined {
  return (model.fileInfo.metadata as { tokenizer?: { ggml?: { tokens?: readonly string[] } } }).tokenizer?.ggml?.tokens?.length;
}

/**
 * Token ids given by the client (a prompt or an embedding input as token arrays) must be in the
 * model's vocabulary: llama.cpp fails its whole evaluation on one that is not, which would be a 500.
 */
export function checkTokenIds(model: LlamaModel, tokens: readonly number[], param: string): void {
  const vocabulary = vocabularySize(model);
  if (vocabulary === undefined) return;
  const bad = tokens.find((token) => token >= vocabulary);
  if (bad !== undefined) throw new ValidationError(`Invalid token id in '${param}': ${bad} is not in the model's vocabulary.`, param);
}

/**
 * `logit_bias` keys are token ids of the model's vocabulary, as OpenAI checks them ("Invalid key in
 * 'logit_bias'"). Unchecked, a key past the vocabulary was silently dropped, and one of 2^32 or
 * more wrapped onto a real token: node-llama-cpp hands the ids to llama.cpp as a Uint32Array.
 */
export function checkLogitBias(model: LlamaModel, logitBias: Readonly<Record<string, number>> | null | undefined): void {
  if (!logitBias) return;
  const vocabulary = vocabularySize(model);
  if (vocabulary === undefined) return;
  for (const key of Object.keys(logitBias)) {
    const token = Number(key);
    if (!Number.isSafeInteger(token) || token < 0 || token >= vocabulary) {
      throw new ValidationError(`Invalid key in 'logit_bias': ${key}. Keys are token ids of the model's vocabulary, from 0 to ${vocabulary - 1}.`, 'logit_bias');
    }
  }
}
