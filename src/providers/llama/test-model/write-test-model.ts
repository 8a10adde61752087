// Writes a tiny but real LLaMA-architecture GGUF model: random weights, a
// working SentencePiece tokenizer and a ChatML chat template. It lets tests
// drive the real llama.cpp engine (load, tokenize, generate, grammars,
// embeddings) without downloading any model. The output is gibberish, but
// deterministic for a given seed.
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { CHATML_TEMPLATE } from './chat-template.js';
import { bool, encodeQ4_0Block, f32, Q4_0_BLOCK, Q4_0_BLOCK_BYTES, str, TensorType, u32, writeGguf, type MetadataValue, type Tensor } from './gguf-writer.js';
import { buildVocab } from './vocab.js';

/** Hyperparameters: as small as llama.cpp's CPU kernels comfortably accept. */
export const TEST_MODEL = {
  contextLength: 2048,
  embedding: 64,
  blocks: 2,
  feedForward: 128,
  heads: 4,
  // Fewer KV heads than query heads so grouped-query attention is exercised.
  headsKv: 2,
  rmsEpsilon: 1e-5,
  ropeFreqBase: 10000,
} as const;

/**
 * Sizes of the generated model. `tiny` (1.8 MB) is what tests run: its per-token cost is all
 * engine overhead. `small` (27M parameters, ~110 MB) is for benchmarks: as with a real model on a
 * CPU, each token costs arithmetic over all the weights (milliseconds, not microseconds). `wide`
 * is `tiny` with a current model's vocabulary (151,936 tokens, ~78 MB): what the work over the
 * vocabulary costs per token (sampling, logprobs) with little else. `q4` has a current small
 * model's shape and size (0.6B parameters in Q4_0, ~360 MB, written in seconds): for every token
 * the engine streams its weights from memory and works through quantized dot products, as with a
 * real model on a CPU, where none of the others leaves the caches.
 */
export const TEST_MODEL_SIZES = {
  tiny: TEST_MODEL,
  small: { ...TEST_MODEL, embedding: 512, blocks: 8, feedForward: 1536, heads: 8, headsKv: 2 },
  wide: { ...TEST_MODEL, vocabulary: 151_936 },
  q4: { ...TEST_MODEL, embedding: 1024, blocks: 28, feedForward: 3072, heads: 8, headsKv: 4, vocabulary: 151_936, weights: 'q4_0' },
} as const;

export type TestModelSize = keyof typeof TEST_MODEL_SIZES;

export interface WriteTestModelOptions {
  /** PRNG seed for the weights; the same seed always yields the same file. */
  seed?: number;
  /** Default `tiny`. */
  size?: TestModelSize;
  /** `tokenizer.chat_template`; default ChatML (chat-template.ts also has a thinking model's). */
  chatTemplate?: string;
  /** How the matrices are stored; default the size's own (Q4_0 for `q4`, F32 for the others). */
  weights?: 'f32' | 'q4_0';
}

/** mulberry32: tiny, fast, good enough PRNG; Math.random can't be seeded. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export async function writeTestModel(outPath: string, options: WriteTestModelOptions = {}): Promise<void> {
  const m = TEST_MODEL_SIZES[options.size ?? 'tiny'];
  const vocab = buildVocab('vocabulary' in m ? m.vocabulary : undefined);
  const nVocab = vocab.tokens.length;
  const headDim = m.embedding / m.heads;
  const kvDim = headDim * m.headsKv;
  const random = prng(options.seed ?? 1);

  // Uniform in [-scale, scale]. Scales are chosen so activations stay O(1)
  // and the output logits have a spread of a few units: the next-token
  // distribution is then peaked enough that sampling settings visibly matter.
  const quantized = (options.weights ?? ('weights' in m ? m.weights : 'f32')) === 'q4_0';
  const tensor = (name: string, dims: number[], scale: number): Tensor => {
    const count = dims.reduce((a, b) => a * b, 1);
    if (quantized) {
      // Block by block: the largest tensors hold 155M values, never all in f32 at once.
      const data = new Uint8Array((count / Q4_0_BLOCK) * Q4_0_BLOCK_BYTES);
      const block = new Float32Array(Q4_0_BLOCK);
      for (let at = 0, out = 0; at < count; at += Q4_0_BLOCK, out += Q4_0_BLOCK_BYTES) {
        for (let i = 0; i < Q4_0_BLOCK; i++) block[i] = (random() * 2 - 1) * scale;
        encodeQ4_0Block(block, data, out);
      }
      return { name, dims, type: TensorType.Q4_0, data };
    }
    const values = new Float32Array(count);
    for (let i = 0; i < values.length; i++) values[i] = (random() * 2 - 1) * scale;
    return { name, dims, type: TensorType.F32, data: new Uint8Array(values.buffer) };
  };
  // RMS-norm gains of one, as an untrained model would start.
  const ones = (name: string): Tensor => {
    const values = new Float32Array(m.embedding).fill(1);
    return { name, dims: [m.embedding], type: TensorType.F32, data: new Uint8Array(values.buffer) };
  };
  const proj = (fanIn: number) => Math.sqrt(3 / fanIn);

  const tensors: Tensor[] = [
    tensor('token_embd.weight', [m.embedding, nVocab], 1),
    ones('output_norm.weight'),
    tensor('output.weight', [m.embedding, nVocab], 0.5),
  ];
  for (let b = 0; b < m.blocks; b++) {
    const p = `blk.${b}.`;
    tensors.push(
      ones(`${p}attn_norm.weight`),
      tensor(`${p}attn_q.weight`, [m.embedding, m.embedding], proj(m.embedding)),
      tensor(`${p}attn_k.weight`, [m.embedding, kvDim], proj(m.embedding)),
      tensor(`${p}attn_v.weight`, [m.embedding, kvDim], proj(m.embedding)),
      tensor(`${p}attn_output.weight`, [m.embedding, m.embedding], proj(m.embedding)),
      ones(`${p}ffn_norm.weight`),
      tensor(`${p}ffn_gate.weight`, [m.embedding, m.feedForward], proj(m.embedding)),
      tensor(`${p}ffn_up.weight`, [m.embedding, m.feedForward], proj(m.embedding)),
      tensor(`${p}ffn_down.weight`, [m.feedForward, m.embedding], proj(m.feedForward)),
    );
  }

  const metadata: Array<[string, MetadataValue]> = [
    ['general.architecture', str('llama')],
    ['general.name', str(options.size && options.size !== 'tiny' ? `switchyard-test-model-${options.size}` : 'switchyard-test-model')],
    ['general.file_type', u32(quantized ? 2 : 0)], // all F32, or Q4_0 but for the norms (MOSTLY_Q4_0)
    ['llama.context_length', u32(m.contextLength)],
    ['llama.embedding_length', u32(m.embedding)],
    ['llama.block_count', u32(m.blocks)],
    ['llama.feed_forward_length', u32(m.feedForward)],
    ['llama.attention.head_count', u32(m.heads)],
    ['llama.attention.head_count_kv', u32(m.headsKv)],
    ['llama.attention.layer_norm_rms_epsilon', f32(m.rmsEpsilon)],
    ['llama.rope.dimension_count', u32(headDim)],
    ['llama.rope.freq_base', f32(m.ropeFreqBase)],
    ['llama.vocab_size', u32(nVocab)],
    ['tokenizer.ggml.model', str('llama')],
    ['tokenizer.ggml.tokens', { type: 'string[]', value: vocab.tokens }],
    ['tokenizer.ggml.scores', { type: 'f32[]', value: vocab.scores }],
    ['tokenizer.ggml.token_type', { type: 'i32[]', value: vocab.types }],
    ['tokenizer.ggml.unknown_token_id', u32(vocab.unkId)],
    ['tokenizer.ggml.bos_token_id', u32(vocab.bosId)],
    // ChatML turns end with <|im_end|>, so that is what stops generation.
    ['tokenizer.ggml.eos_token_id', u32(vocab.eosId)],
    ['tokenizer.ggml.add_bos_token', bool(true)],
    ['tokenizer.ggml.add_eos_token', bool(false)],
    ['tokenizer.chat_template', str(options.chatTemplate ?? CHATML_TEMPLATE)],
  ];

  await mkdir(dirname(outPath), { recursive: true });
  await writeGguf(outPath, metadata, tensors);
}
