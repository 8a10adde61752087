// Writes the random-weight test model (tiny by default; `--size small` for benchmarks):
//   node bin/run-ts.mjs scripts/make-test-model.ts <out.gguf> [--seed N] [--size tiny|small]
import { stat } from 'node:fs/promises';
import { TEST_MODEL_SIZES, writeTestModel, type TestModelSize } from '../src/providers/llama/test-model/write-test-model.js';

const args = process.argv.slice(2);
const seedAt = args.indexOf('--seed');
const seed = seedAt >= 0 ? Number(args.splice(seedAt, 2)[1]) : undefined;
const sizeAt = args.indexOf('--size');
const size = sizeAt >= 0 ? args.splice(sizeAt, 2)[1] : 'tiny';
const out = args[0];
if (!out || (seed !== undefined && !Number.isInteger(seed)) || !(size! in TEST_MODEL_SIZES)) {
  console.error(`usage: make-test-model.ts <out.gguf> [--seed N] [--size ${Object.keys(TEST_MODEL_SIZES).join('|')}]`);
  process.exit(2);
}
const started = performance.now();
await writeTestModel(out, { seed, size: size as TestModelSize });
const { size: bytes } = await stat(out);
console.log(`wrote ${out}: ${(bytes / 1024).toFixed(0)} KiB in ${(performance.now() - started).toFixed(0)} ms`);
