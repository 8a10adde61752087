import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { formatReport, runCases, sampleCases, startFuzzTarget, type FuzzTarget } from './fuzz-cases.js';

/** CI size; `bench/fuzz.ts` runs 100,000. `FUZZ_CASES` and `FUZZ_SEED` override. */
const CASES = Number(process.env.FUZZ_CASES ?? 5_000);
const SEED = Number(process.env.FUZZ_SEED ?? 20_250_101);

describe('fuzzing every endpoint body', () => {
  let target: FuzzTarget;
  before(async () => {
    target = await startFuzzTarget();
  });
  after(() => target.close());

  it(`answers ${CASES} random, mutated and hostile bodies without a crash, a 500 or an error not in OpenAI's shape`, { timeout: 120_000 }, async () => {
    const report = await runCases(target, sampleCases(target, CASES, SEED, { huge: true }));
    console.log(formatReport(report).replace(/^/gm, '# '));
    assert.equal(report.cases, CASES);
    assert.equal(report.byStatus.get(500) ?? 0, 0);
    assert.equal(report.failureCount, 0, formatReport(report));
    // The server is still whole afterwards.
    const health = await target.server.app.inject({ method: 'GET', url: '/healthz' });
    assert.equal(health.statusCode, 200);
  });
});
