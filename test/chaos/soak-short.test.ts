// The leak soak, short (CI): 40 s of mixed traffic against a real server process, then idle; the
// server must give back its sockets, handles and timers, and its memory must level off.
// `npm run bench:soak` is the 10-minute version.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { soak } from '../../bench/lib/soak-run.js';

test('40 s of mixed traffic: no socket, handle or timer left behind; memory levels off', async () => {
  const result = await soak({ seconds: 40, connections: 8, sampleEveryS: 4, log: (line) => console.log(`# ${line}`) });
  const { idleBefore, idleAfter } = result;
  console.log(`# outcomes: ${JSON.stringify(result.outcomes)}`);
  console.log(`# RSS growth second → last quarter: ${(result.rssGrowth * 100).toFixed(1)}%; idle fds ${idleBefore.fds} → ${idleAfter.fds}, handles ${idleBefore.handles} → ${idleAfter.handles}, timers ${idleBefore.timers} → ${idleAfter.timers}`);
  assert.ok(result.samples.at(-1)!.requests > 1_000, `traffic flowed (${result.samples.at(-1)!.requests} requests)`);
  assert.ok(idleAfter.fds <= idleBefore.fds + 2, `file descriptors: ${idleBefore.fds} → ${idleAfter.fds}`);
  assert.ok(idleAfter.handles <= idleBefore.handles + 2, `handles: ${idleBefore.handles} → ${idleAfter.handles}`);
  assert.ok(idleAfter.timers <= idleBefore.timers + 2, `timers: ${idleBefore.timers} → ${idleAfter.timers}`);
  // Short runs are noisy (JIT, heap sizing): the 10% aim is the benchmark's; here, no runaway growth.
  assert.ok(result.rssGrowth < 0.25, `RSS grew ${(result.rssGrowth * 100).toFixed(1)}%`);
});
