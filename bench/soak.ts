// The leak soak: 10 minutes (by default) of mixed traffic — streams, non-streams, client aborts,
// upstream faults, embeddings, bad requests — against a real server process; fails when RSS grows
// more than 10% from the second quarter of the run to the last, or sockets, handles or timers are
// left behind once traffic stops.
//
//   npm run bench:soak                  # 10 minutes
//   npm run bench:soak -- --minutes 3
import { flagValue } from './lib/args.js';
import { soak } from './lib/soak-run.js';

const minutes = Number(flagValue(process.argv.slice(2), 'minutes') ?? 10);
const result = await soak({ seconds: minutes * 60, connections: 8, sampleEveryS: Math.max(5, minutes * 3), log: (line) => console.log(line) });
const { idleBefore, idleAfter } = result;
console.log(`\noutcomes: ${JSON.stringify(result.outcomes)}`);
console.log(`RSS growth, second quarter → last quarter: ${(result.rssGrowth * 100).toFixed(1)}% (aim < 10%)`);
console.log(`idle before → after: fds ${idleBefore.fds} → ${idleAfter.fds}, handles ${idleBefore.handles} → ${idleAfter.handles}, timers ${idleBefore.timers} → ${idleAfter.timers}, RSS ${idleBefore.rssMb.toFixed(1)} → ${idleAfter.rssMb.toFixed(1)} MB`);
const leaks = [
  result.rssGrowth >= 0.1 ? `RSS grew ${(result.rssGrowth * 100).toFixed(1)}%` : '',
  idleAfter.fds > idleBefore.fds + 2 ? `${idleAfter.fds - idleBefore.fds} file descriptors left open` : '',
  idleAfter.handles > idleBefore.handles + 2 ? `${idleAfter.handles - idleBefore.handles} handles left` : '',
  idleAfter.timers > idleBefore.timers + 2 ? `${idleAfter.timers - idleBefore.timers} timers left` : '',
].filter(Boolean);
console.log(leaks.length === 0 ? 'no leak found' : `LEAKS: ${leaks.join('; ')}`);
process.exitCode = leaks.length === 0 ? 0 : 1;
