// The top-N selection behind top_logprobs: one pass over a token's whole distribution must give
// exactly what sorting it would, likeliest first, ties in the order the engine gave them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Token } from 'node-llama-cpp';
import { likeliest } from '../../src/providers/llama/generate-choice.js';

test('likeliest(distribution, n) equals the distribution sorted by probability, cut to n', () => {
  // Few distinct values, so that ties are common.
  const probability = fc.oneof(fc.constantFrom(0, 0.25, 0.5, 1), fc.float({ min: 0, max: 1, noNaN: true }));
  fc.assert(
    fc.property(fc.array(probability, { maxLength: 80 }), fc.integer({ min: 0, max: 25 }), (probabilities, count) => {
      const distribution = new Map(probabilities.map((p, token) => [token as Token, p] as const));
      const sorted = [...distribution.entries()].sort((a, b) => b[1] - a[1]).slice(0, count);
      assert.deepEqual(likeliest(distribution, count), sorted);
    }),
    { numRuns: 3000 },
  );
});
