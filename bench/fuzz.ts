// The fuzzing benchmark: the CI fuzz test's generators (test/fuzz/fuzz-cases.ts) at 100,000 cases.
// `node bin/run-ts.mjs bench/fuzz.ts [--cases N] [--seed S] [--no-huge]`; exits 1 on any rule broken.
import { flagValue, hasFlag } from './lib/args.js';
import { formatReport, newReport, runCases, sampleCases, startFuzzTarget } from '../test/fuzz/fuzz-cases.js';

const args = process.argv.slice(2);
const cases = Number(flagValue(args, 'cases') ?? 100_000);
const seed = Number(flagValue(args, 'seed') ?? Date.now() % 1_000_000_000);
if (!Number.isInteger(cases) || cases <= 0) throw new Error(`--cases: not a positive integer: ${cases}`);

const target = await startFuzzTarget();
const report = newReport();
const step = 10_000;
try {
  for (let done = 0; done < cases; done += step) {
    // Each slice from its own seed, so that a failure's slice can be replayed alone.
    await runCases(target, sampleCases(target, Math.min(step, cases - done), seed + done, { huge: !hasFlag(args, 'no-huge') }), report);
    process.stderr.write(`  ${report.cases} cases, ${report.failureCount} violations, ${(report.ms / 1000).toFixed(0)} s\n`);
  }
} finally {
  await target.close();
}
console.log(`seed ${seed}`);
console.log(formatReport(report));
process.exitCode = report.failureCount === 0 ? 0 : 1;
