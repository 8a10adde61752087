import type { LlamaModel } from 'node-llama-cpp';
import { ValidationError } from '../../errors/errors.js';

/**
 * Token ids given by the client (a prompt or an embedding input as token arrays) must be in the
 * model's vocabulary: llama.cpp fails its whole evaluation on one that is not, which would be a 500.
 */
export function checkTokenIds(model: LlamaModel, tokens: readonly number[], param: string): void {
  const vocabulary = (model.fileInfo.metadata as { tokenizer?: { ggml?: { tokens?: readonly string[] } } }).tokenizer?.ggml?.tokens?.length;
  if (vocabulary === undefined) return;
  const bad = tokens.find((token) => token >= vocabulary);
  if (bad !== undefined) throw new ValidationError(`Invalid token id in '${param}': ${bad} is not in the model's vocabulary.`, param);
}
