// Mixed traffic against a real `switchyard serve` child process, sampling what it holds (RSS,
// open file descriptors, active handles and timers from its /metrics) to find leaks. Used by
// bench/soak.ts (10 minutes) and test/chaos/soak-short.test.ts (under a minute, in CI).
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Agent, fetch } from 'undici';
import { startChaosUpstream } from '../../test/helpers/chaos-upstream.js';
import { freePort, spawnNode, waitForOk } from './processes.js';

export interface SoakSample {
  atS: number;
  rssMb: number;
  fds: number;
  handles: number;
  timers: number;
  requests: number;
}

export interface SoakResult {
  samples: SoakSample[];
  /** Before traffic, and after it stopped and keep-alive sockets closed. */
  idleBefore: SoakSample;
  idleAfter: SoakSample;
  outcomes: Record<string, number>;
  /** Mean RSS of the last quarter of the run over the mean of its second quarter (after warm-up). */
  rssGrowth: number;
}

function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024;
}

const fds = (pid: number) => readdirSync(`/proc/${pid}/fd`).length;

async function processGauges(origin: string): Promise<{ handles: number; timers: number }> {
  const text = await (await fetch(`${origin}/metrics`)).text();
  const value = (pattern: RegExp) => Number(pattern.exec(text)?.[1] ?? Number.NaN);
  return {
    handles: value(/^switchyard_nodejs_active_handles_total (\d+)/m),
    timers: value(/^switchyard_nodejs_active_resources\{type="Timeout"\} (\d+)/m) || 0,
  };
}

const mean = (values: number[]) => values.reduce((sum, value) => sum + value, 0) / Math.max(1, values.length);

/** Runs `seconds` of mixed traffic with `connections` concurrent clients; `log` gets a line per sample. */
export async function soak(options: { seconds: number; connections: number; sampleEveryS: number; log?: (line: string) => void }): Promise<SoakResult> {
  const chaos = await startChaosUpstream({ serverError: 0.1, hangAfterFirst: 0.03, midStreamCut: 0.03 }, 3);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'switchyard-soak-'));
  const config = path.join(dir, 'config.yaml');
  await writeFile(
    config,
    [
      `store: { dataDir: ${JSON.stringify(path.join(dir, 'data'))} }`,
      'providers:',
      '  - { id: sandbox, kind: sandbox, chunkDelayMs: 1 }',
      `  - { id: chaos, kind: openai-compatible, baseURL: ${chaos.baseURL}, models: [m], timeoutMs: 500 }`,
      'aliases:',
      '  mixed: { targets: [chaos/m, sandbox/lorem] }',
      'routing: { breakerCooldownMs: 200 }',
      '',
    ].join('\n'),
  );
  const port = await freePort();
  const env: NodeJS.ProcessEnv = { ...process.env, SWITCHYARD_NO_DEFAULT_MODEL: '1', SWITCHYARD_CONFIG: '', SWITCHYARD_API_KEYS: '' };
  delete env.DATABASE_URL;
  delete env.REDIS_URL;
  const service = spawnNode('switchyard', ['bin/switchyard.mjs', 'serve', '--config', config, '--port', String(port)], env);
  const origin = `http://127.0.0.1:${port}`;
  const outcomes: Record<string, number> = {};
  const count = (what: string) => (outcomes[what] = (outcomes[what] ?? 0) + 1);
  let requests = 0;
  try {
    await waitForOk(`${origin}/v1/models`, {}, service, 60_000);
    const sample = async (atS: number): Promise<SoakSample> => ({ atS, rssMb: rssMb(service.pid), fds: fds(service.pid), ...(await processGauges(origin)), requests });
    // A first request warms every path, so the baseline is the server at work, not at birth.
    await fetch(`${origin}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"model":"sandbox/echo","messages":[{"role":"user","content":"warm"}]}' }).then((r) => r.text());
    const idleBefore = await sample(0);

    // The traffic's own connection pool, closed when traffic stops: what the server still holds then is its own.
    const clients = new Agent();
    const post = (body: unknown, signal?: AbortSignal) =>
      fetch(`${origin}/v1/${(body as { input?: unknown }).input !== undefined ? 'embeddings' : 'chat/completions'}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
        dispatcher: clients,
        ...(signal ? { signal } : {}),
      });
    const messages = [{ role: 'user', content: 'Tell me something about the sea.' }];
    let index = 0;
    const one = async () => {
      const kind = index++ % 10;
      requests++;
      try {
        if (kind < 4) {
          const text = await (await post({ model: 'mixed', stream: true, max_tokens: 24, messages })).text();
          count(text.endsWith('data: [DONE]\n\n') ? 'stream complete' : 'stream error event');
        } else if (kind < 7) {
          const response = await post({ model: 'mixed', max_tokens: 24, messages });
          await response.text();
          count(response.ok ? 'complete' : `error ${response.status}`);
        } else if (kind === 7) {
          // A client that leaves after the first bytes.
          const controller = new AbortController();
          const response = await post({ model: 'sandbox/lorem', stream: true, max_tokens: 200, messages }, controller.signal);
          const reader = response.body!.getReader();
          await reader.read();
          controller.abort();
          await reader.cancel().catch(() => undefined);
          count('aborted by client');
        } else if (kind === 8) {
          const response = await post({ model: 'sandbox/echo', input: ['a', 'b', 'c'] });
          await response.text();
          count(response.ok ? 'embeddings' : `error ${response.status}`);
        } else {
          const response = await post({ model: 'sandbox/echo', messages: 'not an array' });
          await response.text();
          count(`bad request ${response.status}`);
        }
      } catch (error) {
        count(`client error: ${(error as Error).name}`);
      }
    };

    const samples: SoakSample[] = [];
    const started = performance.now();
    const end = started + options.seconds * 1000;
    const sampler = (async () => {
      while (performance.now() < end) {
        await new Promise((resolve) => setTimeout(resolve, options.sampleEveryS * 1000));
        const taken = await sample(Math.round((performance.now() - started) / 1000));
        samples.push(taken);
        options.log?.(`t=${taken.atS}s rss ${taken.rssMb.toFixed(1)} MB, fds ${taken.fds}, handles ${taken.handles}, timers ${taken.timers}, requests ${taken.requests}`);
      }
    })();
    await Promise.all(
      Array.from({ length: options.connections }, async () => {
        while (performance.now() < end) await one();
      }),
    );
    await sampler;
    await clients.close();
    // Idle: pooled keep-alive sockets (client → server, server → upstream) close on their own
    // timers within seconds; what is still held after 20 s idle is held for good.
    let idleAfter = await sample(Math.round((performance.now() - started) / 1000));
    for (let waited = 0; waited < 20 && (idleAfter.fds > idleBefore.fds || idleAfter.handles > idleBefore.handles || idleAfter.timers > idleBefore.timers); waited++) {
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      idleAfter = await sample(Math.round((performance.now() - started) / 1000));
    }
    const quarter = Math.max(1, Math.floor(samples.length / 4));
    const rssGrowth = mean(samples.slice(-quarter).map((s) => s.rssMb)) / mean(samples.slice(quarter, 2 * quarter).map((s) => s.rssMb)) - 1;
    return { samples, idleBefore, idleAfter, outcomes, rssGrowth };
  } finally {
    await service.stop();
    await chaos.close();
    await rm(dir, { recursive: true, force: true });
  }
}
