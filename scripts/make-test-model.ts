// Writes the tiny random-weight test model:
//   node bin/run-ts.mjs scripts/make-test-model.ts <out.gguf> [--seed N]
import { stat } from 'node:fs/promises';
import { writeTestModel } from '../src/providers/llama/test-model/write-test-model.js';

const args = process.argv.slice(2);
const seedAt = args.indexOf('--seed');
const seed = seedAt >= 0 ? Number(args.splice(seedAt, 2)[1]) : undefined;
const out = args[0];
if (!out || (seed !== undefined && !Number.isInteger(seed))) {
  console.error('usage: make-test-model.ts <out.gguf> [--seed N]');
  process.exit(2);
}
const started = performance.now();
await writeTestModel(out, { seed });
const { size } = await stat(out);
console.log(`wrote ${out}: ${(size / 1024).toFixed(0)} KiB in ${(performance.now() - started).toFixed(0)} ms`);
