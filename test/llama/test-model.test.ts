import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { getLlama, LlamaLogLevel, type Llama, type LlamaModel, type Token } from 'node-llama-cpp';
import fc from 'fast-check';
import { encodeQ4_0Block, Q4_0_BLOCK, Q4_0_BLOCK_BYTES, toHalf } from '../../src/providers/llama/test-model/gguf-writer.js';
import { TEST_MODEL_SIZES, writeTestModel } from '../../src/providers/llama/test-model/write-test-model.js';

/** Up to `count` tokens generated greedily from `prompt`, end-of-generation tokens included. */
async function firstTokens(model: LlamaModel, prompt: Token[], count: number): Promise<Token[]> {
  // threads: 1 matters: on a 2-core machine the default thread count is hundreds of times slower.
  const context = await model.createContext({ contextSize: 256, threads: 1 });
  const generated: Token[] = [];
  for await (const token of context.getSequence().evaluate(prompt, { temperature: 0, yieldEogToken: true })) {
    generated.push(token);
    if (generated.length >= count) break;
  }
  return generated;
}

/**
 * Runs `use` with a fresh temporary directory and the engine (started on first ask), then frees
 * both: the engine first, since it holds the models and contexts made from files in the directory.
 */
async function withEngine(use: (dir: string, engine: () => Promise<Llama>) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(path.join(tmpdir(), 'switchyard-test-model-'));
  let llama: Llama | undefined;
  try {
    // build: 'never' + skipDownload: use the prebuilt binary or fail fast, never compile or fetch.
    await use(dir, async () => (llama ??= await getLlama({ gpu: false, build: 'never', skipDownload: true, progressLogs: false, logLevel: LlamaLogLevel.error })));
  } finally {
    await llama?.dispose();
    await rm(dir, { recursive: true, force: true });
  }
}

/** A ChatML user turn and the assistant's opening, as the provider renders one. */
function chatPrompt(model: LlamaModel): Token[] {
  return [model.tokens.bos!, ...model.tokenize('<|im_start|>user\nWrite a story<|im_end|>\n<|im_start|>assistant\n', true)];
}

// The generated model stands in for a real GGUF in every llama test, so it
// must stay small and quick to make, and be loadable by the real engine.
test('test model: small, fast, deterministic, and loads in llama.cpp', () =>
  withEngine(async (dir, engine) => {
    const modelPath = path.join(dir, 'model.gguf');

    const started = performance.now();
    await writeTestModel(modelPath, { seed: 1 });
    const elapsed = performance.now() - started;
    const { size } = await stat(modelPath);
    assert.ok(size < 5 * 1024 * 1024, `model is ${size} bytes`);
    assert.ok(elapsed < 1000, `writing took ${elapsed.toFixed(0)} ms`);

    const again = path.join(dir, 'again.gguf');
    const other = path.join(dir, 'other.gguf');
    await writeTestModel(again, { seed: 1 });
    await writeTestModel(other, { seed: 2 });
    const [a, b, c] = await Promise.all([modelPath, again, other].map((p) => readFile(p)));
    assert.ok(a!.equals(b!), 'same seed, same bytes');
    assert.ok(!a!.equals(c!), 'different seed, different weights');

    const model = await (await engine()).loadModel({ modelPath });

    const text = 'Hello world, the café costs 5€ — 日本語 🙂\nnew line\ttab';
    const tokens = model.tokenize(text);
    assert.equal(model.detokenize(tokens), text);
    const words = model.tokenize('the people would like to know');
    assert.equal(words.length, 6, 'common words are single tokens');

    const template = model.fileInfo.metadata.tokenizer.chat_template;
    assert.equal(typeof template, 'string');
    assert.match(template!, /<\|im_start\|>/);
    assert.match(template!, /add_generation_prompt/);
    assert.equal(model.detokenize([model.tokens.eos!], true), '<|im_end|>');
    assert.equal(model.tokenize('<|im_start|>', true).length, 1, 'ChatML markers are single special tokens');

    assert.equal((await firstTokens(model, [model.tokens.bos!, ...tokens], 8)).length, 8);
  }));

// The benchmark size: a real model to llama.cpp too, with the width and depth it declares.
test('small test model: the benchmark size loads and generates', () =>
  withEngine(async (dir, engine) => {
    const modelPath = path.join(dir, 'small.gguf');
    await writeTestModel(modelPath, { seed: 1, size: 'small' });
    const { size } = await stat(modelPath);
    assert.ok(size > 100 * 1024 * 1024 && size < 120 * 1024 * 1024, `model is ${size} bytes`);

    const model = await (await engine()).loadModel({ modelPath });
    assert.equal(model.fileInfo.metadata.llama?.embedding_length, TEST_MODEL_SIZES.small.embedding);
    assert.equal(model.fileInfo.metadata.llama?.block_count, TEST_MODEL_SIZES.small.blocks);

    assert.equal((await firstTokens(model, chatPrompt(model), 8)).length, 8);
  }));

// The q4 benchmark size's weights: ggml's Q4_0 blocks, with f16 scales.
test('half precision: exact where f16 can say it, rounded to nearest even, subnormals included', () => {
  assert.equal(toHalf(1), 0x3c00);
  assert.equal(toHalf(-2), 0xc000);
  assert.equal(toHalf(0.5), 0x3800);
  assert.equal(toHalf(65504), 0x7bff);
  assert.equal(toHalf(1 / 3), 0x3555);
  assert.equal(toHalf(1 + 2 ** -11), 0x3c00, 'a tie rounds to the even mantissa');
  assert.equal(toHalf(1 + 3 * 2 ** -11), 0x3c02);
  assert.equal(toHalf(1e6), 0x7c00, 'past the range: infinity');
  assert.equal(toHalf(2 ** -14), 0x0400, 'the smallest normal');
  assert.equal(toHalf(2 ** -24), 0x0001, 'the smallest subnormal');
  assert.equal(toHalf(-(2 ** -20)), 0x8010);
  assert.equal(toHalf(3 * 2 ** -25), 0x0002, 'a subnormal tie rounds to even');
  assert.equal(toHalf(2 ** -14 - 2 ** -25), 0x0400, 'rounding up out of the subnormals');
  assert.equal(toHalf(1e-8), 0);
  for (let bits = 0; bits < 0x7c00; bits += 7) assert.equal(toHalf(fromHalf(bits)), bits, `f16 ${bits.toString(16)} round-trips`);
});

test('a Q4_0 block decodes back to within one step of every value, the largest one exactly', () => {
  fc.assert(
    fc.property(
      // Blocks of weights as models have them: the largest well inside f16's normal range, so that
      // the scale (a sixteenth of it) keeps f16's full precision.
      fc.array(fc.float({ min: -4, max: 4, noNaN: true, noDefaultInfinity: true }), { minLength: Q4_0_BLOCK, maxLength: Q4_0_BLOCK }).filter((values) => values.some((value) => Math.abs(value) >= 1e-3)),
      (values) => {
      const out = new Uint8Array(Q4_0_BLOCK_BYTES);
      encodeQ4_0Block(values, out, 0);
      const scale = fromHalf(out[0]! | (out[1]! << 8));
      const largest = values.reduce((a, b) => (Math.abs(b) > Math.abs(a) ? b : a), 0);
      for (let j = 0; j < Q4_0_BLOCK; j++) {
        const byte = out[2 + (j % 16)]!;
        const quant = j < 16 ? byte & 0x0f : byte >> 4;
        const decoded = (quant - 8) * scale;
        // Rounded to the nearest step (the scale itself rounded to f16: a few thousandths of a step
        // more); only values past +7.5 steps, opposite the largest, are clamped to 15, a step off at most.
        const bound = quant === 15 ? 1.01 : 0.51;
        assert.ok(Math.abs(decoded - values[j]!) <= Math.abs(scale) * bound + 1e-6, `value ${j}: ${values[j]} came back as ${decoded}`);
        if (values[j] === largest) assert.ok(Math.abs(decoded - largest) <= Math.abs(largest) * 1e-3);
      }
      },
    ),
  );
});

/** f16 bits as a number (zero, subnormal or normal: what the encoder can write). */
function fromHalf(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  return exponent === 0 ? sign * mantissa * 2 ** -24 : sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

test('a model with Q4_0 weights loads in llama.cpp and generates', () =>
  withEngine(async (dir, engine) => {
    const modelPath = path.join(dir, 'tiny-q4.gguf');
    await writeTestModel(modelPath, { seed: 1, weights: 'q4_0' });
    const f32 = path.join(dir, 'tiny.gguf');
    await writeTestModel(f32, { seed: 1 });
    const [quantized, plain] = [(await stat(modelPath)).size, (await stat(f32)).size];
    assert.ok(quantized < plain / 4, `${quantized} bytes against ${plain} in f32`);
    const model = await (await engine()).loadModel({ modelPath });
    assert.equal(model.fileInfo.metadata.general?.file_type, 2);
    assert.equal((await firstTokens(model, chatPrompt(model), 8)).length, 8);
  }));
