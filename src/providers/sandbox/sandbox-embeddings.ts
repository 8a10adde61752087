import { countTokens } from '../../chat/token-count.js';
import { createRandom, hashString } from './prng.js';

export const SANDBOX_EMBEDDING_DIMENSIONS = 256;
/** As many as OpenAI's largest embedding model makes (text-embedding-3-large), so any client's setting works; more is a 400. */
export const SANDBOX_MAX_EMBEDDING_DIMENSIONS = 3072;

/**
 * A deterministic unit vector for a text: words hash to fixed random directions and are summed, so
 * texts that share words point in similar directions (enough for tests of similarity and RAG code).
 */
export function sandboxEmbedding(input: string | number[], dimensions: number): Float32Array {
  const words = typeof input === 'string' ? input.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [''] : input.map(String);
  const vector = new Float32Array(dimensions);
  for (const word of words) {
    const random = createRandom(hashString(word));
    for (let i = 0; i < dimensions; i++) vector[i]! += random() * 2 - 1;
  }
  let norm = 0;
  for (const value of vector) norm += value * value;
  norm = Math.sqrt(norm) || 1;
  for (let i = 0; i < dimensions; i++) vector[i]! /= norm;
  return vector;
}

export function sandboxTokens(input: string | number[]): number {
  return typeof input === 'string' ? countTokens(input) : input.length;
}
