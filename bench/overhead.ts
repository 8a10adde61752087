// The gateway overhead benchmark: what Switchyard costs on top of the least any Node hop costs.
//
//   npm run bench                      # 10 s per run
//   npm run bench -- --quick           # ~3 s per run
//   npm run bench -- --duration 20 --json bench-results.json
//
// Three targets, all in front of the same fake upstream (bench/fake-upstream.ts):
//   direct      client → fake upstream                 (what the upstream alone gives)
//   floor       client → floor proxy → fake upstream   (bench/floor-proxy.ts: a bare node:http hop)
//   switchyard  client → Switchyard → fake upstream, as `npm start` runs it: no keys yet, so open on
//               loopback; every call's usage record journaled and written to SQLite in batches
//   platform    the same with API keys: a key from the store (SQLite) checked on every request,
//               limits in memory
//   platform-pg the same on PostgreSQL (127.0.0.1:5432) and Redis (127.0.0.1:6379), as a cluster node runs
// Each target is its own process, so that the CPU time it spends can be read from /proc.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { flagValue, hasFlag } from './lib/args.js';
import { clockTicksPerSecond, machineBusyMs, processCpuMs } from './lib/cpu.js';
import { runLoad, type LoadResult } from './lib/load.js';
import { ChildService, forkBenchServer, freePort, PROJECT_ROOT, spawnNode, stopAll, waitForOk } from './lib/processes.js';
import { fixed, renderMarkdown, renderText, type Table } from './lib/report.js';

type TargetName = 'direct' | 'floor' | 'switchyard' | 'platform' | 'platform-pg';
type Mode = 'non-stream' | 'stream';

const ALL_TARGETS: readonly TargetName[] = ['direct', 'floor', 'switchyard', 'platform', 'platform-pg'];
const ALL_MODES: readonly Mode[] = ['non-stream', 'stream'];
const DEFAULT_CONCURRENCY: readonly number[] = [1, 16, 64];

/** What Switchyard should achieve against the floor; printed next to the figures. */
const AIMS = {
  /** CPU milliseconds per request spent in the Switchyard process. */
  cpuMsPerRequest: 0.25,
  /** Share of the floor's requests/s, at these concurrencies. */
  throughputShare: 0.5,
  throughputAtConcurrency: [16, 64],
  /** Milliseconds added to the floor's median latency, at this concurrency. */
  addedP50Ms: 0.3,
  addedP50AtConcurrency: 1,
} as const;

/** Above this much CPU used by unrelated processes during a run, its figures are flagged. */
const OTHER_CPU_WARNING_PERCENT = 10;

const HEADERS: Record<string, string> = { 'content-type': 'application/json', authorization: 'Bearer sk-bench' };
const SHORT_PROMPT = 'Hello, how are you today?';
const PROSE = 'The river runs past the mill, under the old stone bridge and out towards the hills, where the town keeps its records. ';

/** The request bodies, with a user message of `promptChars` characters of prose (or a short greeting). */
function requestBodies(promptChars: number | undefined): Record<Mode, string> {
  const prompt = promptChars === undefined ? SHORT_PROMPT : PROSE.repeat(Math.ceil(promptChars / PROSE.length)).slice(0, promptChars);
  const messages = `"messages":[{"role":"user","content":${JSON.stringify(prompt)}}],"max_tokens":64`;
  return {
    'non-stream': `{"model":"upstream/fake-model",${messages}}`,
    stream: `{"model":"upstream/fake-model",${messages},"stream":true,"stream_options":{"include_usage":true}}`,
  };
}

const USAGE = `Usage: npm run bench -- [options]
  --duration S        seconds per measured run (default 10)
  --quick             3 s runs with 1 s warm-ups
  --warmup S          seconds of warm-up before each run (default: a fifth of the duration, at least 1)
  --targets LIST      comma-separated subset of ${ALL_TARGETS.join(',')}
  --modes LIST        comma-separated subset of ${ALL_MODES.join(',')}
  --concurrency LIST  connections per run (default ${DEFAULT_CONCURRENCY.join(',')})
  --repeat N          measure every cell N times, interleaving the targets, and report medians (default 1)
  --noisy-retries N   measure a run again, up to N times, when other processes took CPU meanwhile (default 2)
  --prompt-chars N    a user message of N characters of prose instead of a short greeting
  --json FILE         also write every figure to FILE`;

interface Options {
  durationS: number;
  warmupS: number;
  targets: TargetName[];
  modes: Mode[];
  concurrency: number[];
  repeat: number;
  noisyRetries: number;
  bodies: Record<Mode, string>;
  jsonPath: string | undefined;
}

function listFlag<T extends string>(args: string[], name: string, allowed: readonly T[]): T[] {
  const raw = flagValue(args, name);
  if (raw === undefined) return [...allowed];
  const picked = raw.split(',').map((item) => item.trim());
  const unknown = picked.filter((item) => !(allowed as readonly string[]).includes(item));
  if (unknown.length > 0) throw new Error(`--${name}: unknown ${unknown.join(', ')} (known: ${allowed.join(', ')})`);
  return picked as T[];
}

function positiveNumber(raw: string, flag: string): number {
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${flag}: not a positive number: ${raw}`);
  return value;
}

function parseOptions(args: string[]): Options {
  const quick = hasFlag(args, 'quick');
  const rawDuration = flagValue(args, 'duration');
  const durationS = rawDuration === undefined ? (quick ? 3 : 10) : positiveNumber(rawDuration, 'duration');
  const rawWarmup = flagValue(args, 'warmup');
  const warmupS = rawWarmup === undefined ? (quick ? 1 : Math.max(1, durationS / 5)) : positiveNumber(rawWarmup, 'warmup');
  const rawConcurrency = flagValue(args, 'concurrency');
  const concurrency = rawConcurrency === undefined ? [...DEFAULT_CONCURRENCY] : rawConcurrency.split(',').map((item) => Math.round(positiveNumber(item, 'concurrency')));
  const rawRepeat = flagValue(args, 'repeat');
  const repeat = rawRepeat === undefined ? 1 : Math.round(positiveNumber(rawRepeat, 'repeat'));
  const rawRetries = flagValue(args, 'noisy-retries');
  const noisyRetries = rawRetries === undefined ? 2 : Number(rawRetries);
  if (!Number.isInteger(noisyRetries) || noisyRetries < 0) throw new Error(`--noisy-retries: not a count: ${rawRetries}`);
  const rawPromptChars = flagValue(args, 'prompt-chars');
  const promptChars = rawPromptChars === undefined ? undefined : Math.round(positiveNumber(rawPromptChars, 'prompt-chars'));
  const jsonPath = flagValue(args, 'json');
  return {
    durationS,
    warmupS,
    targets: listFlag(args, 'targets', ALL_TARGETS),
    modes: listFlag(args, 'modes', ALL_MODES),
    concurrency,
    repeat,
    noisyRetries,
    bodies: requestBodies(promptChars),
    jsonPath: jsonPath === undefined ? undefined : path.resolve(jsonPath),
  };
}

/** A server under test: where to send load, and which process to charge for CPU. */
interface Target {
  name: TargetName;
  baseUrl: string;
  /** The process under test only: for the proxies, not the upstream behind them. */
  cpuPid: number;
  /** Request headers when the target needs its own (the platform's API key). */
  headers?: Record<string, string>;
  stop(): Promise<void>;
}

interface Upstream {
  service: ChildService;
  port: number;
}

/**
 * `platform`: the same Switchyard with an API key from the store (SQLite) and rate limits in memory
 * (a tier high enough never to refuse). Usage is recorded in both rows (Switchyard has no switch to
 * turn accounting off), so the row's difference from `switchyard` is what key auth + limits cost;
 * the usage record's own cost is inside both.
 */
const PLATFORM_CONFIG = [
  'tiers:',
  '  bench: { requestsPerMinute: 100000000, tokensPerMinute: 1000000000000, concurrentRequests: 100000 }',
  'defaultTier: bench',
];

/** Where `platform-pg` keeps its state: a database of its own, created here and dropped at the end. */
const PG_ADMIN_URL = process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const BENCH_REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';

interface PgClient {
  query(sql: string): Promise<unknown>;
  end(): Promise<void>;
}

/** A fresh PostgreSQL database for one run, and how to drop it; throws (the target is skipped) when PostgreSQL is not there. */
async function freshPostgresDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  // pg ships no types of its own; the two calls used here are typed by hand.
  const pg = createRequire(import.meta.url)('pg') as { Client: new (options: { connectionString: string }) => PgClient & { connect(): Promise<void> } };
  const name = `switchyard_bench_${process.pid}_${Date.now()}`;
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
  try {
    await admin.connect();
    await admin.query(`create database ${name}`);
  } catch (error) {
    await admin.end().catch(() => {});
    throw new Error(`PostgreSQL not reachable at ${PG_ADMIN_URL} (BENCH_PG_URL sets it): ${(error as Error).message}`);
  }
  await admin.end();
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const dropper = new pg.Client({ connectionString: PG_ADMIN_URL });
      await dropper.connect();
      await dropper.query(`drop database if exists ${name} with (force)`);
      await dropper.end();
    },
  };
}

async function startSwitchyard(upstream: Upstream, platform: false | 'sqlite' | 'postgres' = false): Promise<Target> {
  // The server is being written alongside this benchmark: say plainly when it is not there yet.
  const missing = ['bin/switchyard.mjs', 'src/cli'].filter((file) => !existsSync(path.join(PROJECT_ROOT, file)));
  if (missing.length > 0) throw new Error(`not built yet: ${missing.join(' and ')} missing`);

  const dir = await mkdtemp(path.join(os.tmpdir(), 'switchyard-bench-'));
  const configFile = path.join(dir, 'config.yaml');
  await writeFile(
    configFile,
    [
      'providers:',
      '  - id: upstream',
      '    kind: openai-compatible',
      `    baseURL: http://127.0.0.1:${upstream.port}/v1`,
      '    apiKey: sk-upstream',
      '    models: [fake-model]',
      `store: { dataDir: ${JSON.stringify(path.join(dir, 'data'))} }`,
      ...(platform ? PLATFORM_CONFIG : []),
      '',
    ].join('\n'),
  );
  let dropDatabase: (() => Promise<void>) | undefined;
  const port = await freePort();
  // The config alone decides what runs: no keys or config file picked up from the caller's shell.
  const env = { ...process.env };
  delete env.SWITCHYARD_API_KEYS;
  delete env.SWITCHYARD_CONFIG;
  delete env.DATABASE_URL;
  delete env.REDIS_URL;
  if (platform === 'postgres') {
    const database = await freshPostgresDatabase();
    dropDatabase = database.drop;
    env.DATABASE_URL = database.url;
    env.REDIS_URL = BENCH_REDIS_URL;
  }
  const adminKey = 'sk_admin_bench_0123456789abcdef0123456789';
  env.SWITCHYARD_ADMIN_KEY = adminKey;
  const service = spawnNode('switchyard', ['bin/switchyard.mjs', 'serve', '--config', configFile, '--port', String(port), '--host', '127.0.0.1'], env);
  const stop = async () => {
    await service.stop();
    await rm(dir, { recursive: true, force: true });
    await dropDatabase?.();
  };
  const baseUrl = `http://127.0.0.1:${port}`;
  try {
    await waitForOk(`${baseUrl}/v1/models`, { authorization: HEADERS.authorization! }, service, 60_000);
  } catch (error) {
    await stop();
    throw error;
  }
  if (!platform) return { name: 'switchyard', baseUrl, cpuPid: service.pid, stop };
  const created = await fetch(`${baseUrl}/admin/v1/keys`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${adminKey}` },
    body: JSON.stringify({ name: 'bench' }),
  });
  const key = ((await created.json()) as { value?: string }).value;
  if (!created.ok || !key) {
    await stop();
    throw new Error(`could not create a key: ${created.status}`);
  }
  const name = platform === 'postgres' ? 'platform-pg' : 'platform';
  return { name, baseUrl, cpuPid: service.pid, stop, headers: { ...HEADERS, authorization: `Bearer ${key}` } };
}

async function startTarget(name: TargetName, upstream: Upstream): Promise<Target> {
  switch (name) {
    case 'direct':
      // The upstream is shared by all targets and stopped at the very end.
      return { name, baseUrl: `http://127.0.0.1:${upstream.port}`, cpuPid: upstream.service.pid, stop: async () => {} };
    case 'floor': {
      const { service, port } = await forkBenchServer('floor proxy', 'bench/floor-proxy.ts', ['--upstream', `http://127.0.0.1:${upstream.port}`]);
      return { name, baseUrl: `http://127.0.0.1:${port}`, cpuPid: service.pid, stop: () => service.stop() };
    }
    case 'switchyard':
      return startSwitchyard(upstream);
    case 'platform':
      return startSwitchyard(upstream, 'sqlite');
    case 'platform-pg':
      return startSwitchyard(upstream, 'postgres');
  }
}

/**
 * One request before any load, to see that the target really answers a chat completion: a target
 * that answers errors fast would otherwise post splendid figures.
 */
async function checkAnswers(target: Target, mode: Mode, body: string): Promise<string | undefined> {
  let status: number;
  let text: string;
  try {
    const response = await fetch(`${target.baseUrl}/v1/chat/completions`, { method: 'POST', headers: target.headers ?? HEADERS, body, signal: AbortSignal.timeout(10_000) });
    status = response.status;
    text = await response.text();
  } catch (error) {
    return `request failed: ${(error as Error).message}`;
  }
  if (status !== 200) return `answered ${status}: ${text.slice(0, 300)}`;
  if (mode === 'non-stream') {
    try {
      const body = JSON.parse(text) as { choices?: Array<{ message?: { content?: unknown } }> };
      if (typeof body.choices?.[0]?.message?.content === 'string') return undefined;
    } catch {
      // Reported below.
    }
    return `not a chat completion: ${text.slice(0, 300)}`;
  }
  if (!text.includes('chat.completion.chunk') || !text.trimEnd().endsWith('data: [DONE]')) return `not a chat completion stream: ${text.slice(0, 300)}`;
  return undefined;
}

interface RunRecord {
  target: TargetName;
  mode: Mode;
  connections: number;
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  /** CPU ms of the process under test per completed request; null without /proc. */
  cpuMsPerRequest: number | null;
  /** That process's CPU time over the run's wall time: 100 = one core busy. */
  serverCpuPercent: number | null;
  /** The load generator's (this process's) CPU: near 100 means the client, not the server, was the limit. */
  clientCpuPercent: number;
  /**
   * CPU the rest of the machine used meanwhile: everything busy but the server, the upstream and the
   * load generator (steal included). Well above a few percent, the run shared the machine and its
   * figures are suspect.
   */
  otherCpuPercent: number | null;
  completed: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  /** Measurements this record is the median of (see --repeat). */
  samples: number;
}

interface Skip {
  target: TargetName;
  mode?: Mode;
  connections?: number;
  reason: string;
}

async function measure(target: Target, upstream: Upstream, mode: Mode, connections: number, options: Options): Promise<RunRecord> {
  const load = { url: `${target.baseUrl}/v1/chat/completions`, body: options.bodies[mode], headers: target.headers ?? HEADERS, connections };
  // Warm-up: JIT, connection pools (client → hop → upstream) and buffers settle before measuring.
  await runLoad({ ...load, durationS: options.warmupS });

  // For the direct target the server under test is the upstream: count it once.
  const upstreamPid = upstream.service.pid === target.cpuPid ? undefined : upstream.service.pid;
  const readings = () => ({
    server: processCpuMs(target.cpuPid),
    upstream: upstreamPid === undefined ? 0 : processCpuMs(upstreamPid),
    machine: machineBusyMs(),
  });
  const before = readings();
  const clientBefore = process.cpuUsage();
  const result: LoadResult = await runLoad({ ...load, durationS: options.durationS });
  const clientUsage = process.cpuUsage(clientBefore);
  const after = readings();

  const completed = result.ok + result.non2xx;
  const delta = (pick: (reading: ReturnType<typeof readings>) => number | undefined) => {
    const [start, end] = [pick(before), pick(after)];
    return start === undefined || end === undefined ? undefined : end - start;
  };
  const cpuMs = delta((reading) => reading.server);
  const upstreamMs = delta((reading) => reading.upstream);
  const machineMs = delta((reading) => reading.machine);
  const clientMs = (clientUsage.user + clientUsage.system) / 1000;
  const otherMs = cpuMs === undefined || upstreamMs === undefined || machineMs === undefined ? undefined : machineMs - cpuMs - upstreamMs - clientMs;
  return {
    target: target.name,
    mode,
    connections,
    requestsPerSecond: result.requestsPerSecond,
    p50Ms: result.p50Ms,
    p99Ms: result.p99Ms,
    cpuMsPerRequest: cpuMs === undefined || completed === 0 ? null : cpuMs / completed,
    serverCpuPercent: cpuMs === undefined ? null : (cpuMs / result.wallMs) * 100,
    clientCpuPercent: (clientMs / result.wallMs) * 100,
    // Tick rounding can take it a little below zero.
    otherCpuPercent: otherMs === undefined ? null : Math.max(0, (otherMs / result.wallMs) * 100),
    completed,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    samples: 1,
  };
}

function isNoisy(record: RunRecord): boolean {
  return (record.otherCpuPercent ?? 0) > OTHER_CPU_WARNING_PERCENT;
}

/**
 * On a shared machine a run can coincide with someone's compile. Such a run is measured again, up
 * to --noisy-retries times, and the least disturbed measurement kept; one still disturbed is flagged.
 */
async function measureQuietly(target: Target, upstream: Upstream, mode: Mode, connections: number, options: Options, log: (line: string) => void, label: string): Promise<RunRecord> {
  let latest = await measure(target, upstream, mode, connections, options);
  let kept = latest;
  for (let retry = 1; retry <= options.noisyRetries && isNoisy(kept); retry += 1) {
    log(`${label}: other processes took ${fixed(latest.otherCpuPercent, 0)}% CPU meanwhile; measuring again (${retry}/${options.noisyRetries})`);
    latest = await measure(target, upstream, mode, connections, options);
    if ((latest.otherCpuPercent ?? 0) < (kept.otherCpuPercent ?? 0)) kept = latest;
  }
  return kept;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

function medianOrNull(values: Array<number | null>): number | null {
  return values.some((value) => value === null) ? null : median(values as number[]);
}

/** Repeated measurements of one cell folded into one record: medians of the figures, sums of the counts. */
function fold(measurements: RunRecord[]): RunRecord {
  const first = measurements[0]!;
  if (measurements.length === 1) return first;
  const sum = (pick: (record: RunRecord) => number) => measurements.reduce((total, record) => total + pick(record), 0);
  return {
    target: first.target,
    mode: first.mode,
    connections: first.connections,
    requestsPerSecond: median(measurements.map((record) => record.requestsPerSecond)),
    p50Ms: median(measurements.map((record) => record.p50Ms)),
    p99Ms: median(measurements.map((record) => record.p99Ms)),
    cpuMsPerRequest: medianOrNull(measurements.map((record) => record.cpuMsPerRequest)),
    serverCpuPercent: medianOrNull(measurements.map((record) => record.serverCpuPercent)),
    clientCpuPercent: median(measurements.map((record) => record.clientCpuPercent)),
    otherCpuPercent: medianOrNull(measurements.map((record) => record.otherCpuPercent)),
    completed: sum((record) => record.completed),
    non2xx: sum((record) => record.non2xx),
    errors: sum((record) => record.errors),
    timeouts: sum((record) => record.timeouts),
    samples: measurements.length,
  };
}

function problems(record: RunRecord): string {
  const parts: string[] = [];
  if (record.non2xx > 0) parts.push(`${record.non2xx} non-2xx`);
  if (record.errors > 0) parts.push(`${record.errors} errors`);
  if (record.timeouts > 0) parts.push(`${record.timeouts} timeouts`);
  return parts.join(', ');
}

function runsTable(records: RunRecord[]): Table {
  return {
    headers: ['target', 'mode', 'conc', 'req/s', 'p50 ms', 'p99 ms', 'CPU ms/req', 'server CPU %', 'client CPU %', 'other CPU %', 'problems'],
    right: new Set([2, 3, 4, 5, 6, 7, 8, 9]),
    rows: records.map((record) => [
      record.target,
      record.mode,
      String(record.connections),
      fixed(record.requestsPerSecond, 0),
      fixed(record.p50Ms, 3),
      fixed(record.p99Ms, 3),
      fixed(record.cpuMsPerRequest, 3),
      fixed(record.serverCpuPercent, 0),
      fixed(record.clientCpuPercent, 0),
      fixed(record.otherCpuPercent, 0),
      problems(record),
    ]),
  };
}

interface Comparison {
  mode: Mode;
  connections: number;
  /** Switchyard's requests/s over the floor's, in percent. */
  throughputSharePercent: number;
  throughputAimMet: boolean | null;
  addedP50Ms: number;
  addedP50AimMet: boolean | null;
  floorCpuMsPerRequest: number | null;
  switchyardCpuMsPerRequest: number | null;
  cpuAimMet: boolean | null;
}

function compare(records: RunRecord[]): Comparison[] {
  const find = (target: TargetName, mode: Mode, connections: number) =>
    records.find((record) => record.target === target && record.mode === mode && record.connections === connections);
  const comparisons: Comparison[] = [];
  for (const floor of records.filter((record) => record.target === 'floor')) {
    const switchyard = find('switchyard', floor.mode, floor.connections);
    if (!switchyard) continue;
    const share = (switchyard.requestsPerSecond / floor.requestsPerSecond) * 100;
    const added = switchyard.p50Ms - floor.p50Ms;
    comparisons.push({
      mode: floor.mode,
      connections: floor.connections,
      throughputSharePercent: share,
      throughputAimMet: (AIMS.throughputAtConcurrency as readonly number[]).includes(floor.connections) ? share >= AIMS.throughputShare * 100 : null,
      addedP50Ms: added,
      addedP50AimMet: floor.connections === AIMS.addedP50AtConcurrency ? added <= AIMS.addedP50Ms : null,
      floorCpuMsPerRequest: floor.cpuMsPerRequest,
      switchyardCpuMsPerRequest: switchyard.cpuMsPerRequest,
      cpuAimMet: switchyard.cpuMsPerRequest === null ? null : switchyard.cpuMsPerRequest <= AIMS.cpuMsPerRequest,
    });
  }
  return comparisons;
}

const PLATFORM_AIM_MS = 0.05;

/** `platform` and `platform-pg` minus `switchyard`, cell by cell: the CPU the platform's work costs per request. */
function platformCost(records: RunRecord[]): Table {
  const rows: string[][] = [];
  for (const variant of ['platform', 'platform-pg'] as const) {
    for (const core of records.filter((record) => record.target === 'switchyard')) {
      const withPlatform = records.find((record) => record.target === variant && record.mode === core.mode && record.connections === core.connections);
      if (!withPlatform || core.cpuMsPerRequest === null || withPlatform.cpuMsPerRequest === null) continue;
      const added = withPlatform.cpuMsPerRequest - core.cpuMsPerRequest;
      // The aim is set for SQLite and in-memory limits; PostgreSQL + Redis is reported beside it.
      const aim = variant === 'platform' ? verdict(`≤ ${PLATFORM_AIM_MS}`, added <= PLATFORM_AIM_MS) : '(reported)';
      rows.push([variant === 'platform' ? 'SQLite + memory' : 'PostgreSQL + Redis', core.mode, String(core.connections), fixed(core.cpuMsPerRequest, 3), fixed(withPlatform.cpuMsPerRequest, 3), fixed(added, 3), aim]);
    }
  }
  return { headers: ['store + limits', 'mode', 'conc', 'core CPU ms/req', 'with platform', 'added', 'aim'], rows };
}

function verdict(aim: string, met: boolean | null): string {
  return met === null ? '' : `${aim} ${met ? 'ok' : 'MISSED'}`;
}

function comparisonTable(comparisons: Comparison[]): Table {
  return {
    headers: ['mode', 'conc', 'sy/floor req/s', 'aim', 'added p50 ms', 'aim', 'floor CPU ms/req', 'sy CPU ms/req', 'aim'],
    right: new Set([1, 2, 4, 6, 7]),
    rows: comparisons.map((c) => [
      c.mode,
      String(c.connections),
      `${fixed(c.throughputSharePercent, 1)}%`,
      verdict(`≥ ${AIMS.throughputShare * 100}%`, c.throughputAimMet),
      `${c.addedP50Ms >= 0 ? '+' : ''}${fixed(c.addedP50Ms, 3)}`,
      verdict(`≤ ${AIMS.addedP50Ms}`, c.addedP50AimMet),
      fixed(c.floorCpuMsPerRequest, 3),
      fixed(c.switchyardCpuMsPerRequest, 3),
      verdict(`≤ ${AIMS.cpuMsPerRequest}`, c.cpuAimMet),
    ]),
  };
}

function describeMachine(options: Options): string {
  const cpus = os.cpus();
  return [
    `node ${process.version}, ${os.platform()} ${os.arch()}, ${cpus.length} CPU${cpus.length === 1 ? '' : 's'} (${cpus[0]?.model.trim() ?? 'unknown'})`,
    `${options.durationS} s per run after a ${options.warmupS} s warm-up` +
      `${options.repeat > 1 ? `, each cell measured ${options.repeat} times (medians shown)` : ''}; CLK_TCK ${clockTicksPerSecond()}`,
  ].join('\n');
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (hasFlag(args, 'help')) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const options = parseOptions(args);
  const records: RunRecord[] = [];
  const skipped: Skip[] = [];
  const log = (line: string) => process.stdout.write(`${line}\n`);

  log(`Switchyard gateway overhead benchmark\n${describeMachine(options)}`);
  if (os.cpus().length < 4) {
    log('Note: fewer than 4 CPUs — the load generator, the hop and the upstream share cores; compare rows with each other, not with other machines.');
  }
  const busyBefore = machineBusyMs();
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  const busyAfter = machineBusyMs();
  if (busyBefore !== undefined && busyAfter !== undefined && busyAfter - busyBefore > 250) {
    log(`Warning: before starting, the machine was already ${((busyAfter - busyBefore) / 10).toFixed(0)}% busy (of one CPU); expect noisy figures.`);
  }
  log('');

  const upstreamStart = await forkBenchServer('fake upstream', 'bench/fake-upstream.ts', []);
  const upstream: Upstream = { service: upstreamStart.service, port: upstreamStart.port };

  // All targets run side by side (an idle Node process costs nothing) so that each cell can measure
  // them back to back: a drift in the machine's background load then hits floor and Switchyard alike.
  const targets: Target[] = [];
  try {
    for (const name of options.targets) {
      try {
        targets.push(await startTarget(name, upstream));
      } catch (error) {
        const reason = (error as Error).message;
        skipped.push({ target: name, reason });
        log(`${name}: skipped — ${reason}`);
      }
    }

    for (const mode of options.modes) {
      const ready: Target[] = [];
      for (const target of targets) {
        const problem = await checkAnswers(target, mode, options.bodies[mode]);
        if (problem) {
          skipped.push({ target: target.name, mode, reason: problem });
          log(`${target.name} ${mode}: skipped — ${problem}`);
        } else {
          ready.push(target);
        }
      }
      for (const connections of options.concurrency) {
        const measured = new Map<TargetName, RunRecord[]>();
        for (let round = 1; round <= options.repeat; round += 1) {
          for (const target of ready) {
            const label = `${target.name} ${mode} c=${connections}${options.repeat > 1 ? ` #${round}` : ''}`;
            try {
              const record = await measureQuietly(target, upstream, mode, connections, options, log, label);
              measured.set(target.name, [...(measured.get(target.name) ?? []), record]);
              const issues = problems(record);
              log(
                `${label}: ${fixed(record.requestsPerSecond, 0)} req/s, p50 ${fixed(record.p50Ms, 3)} ms, ` +
                  `p99 ${fixed(record.p99Ms, 3)} ms, ${fixed(record.cpuMsPerRequest, 3)} CPU ms/req${issues ? ` (${issues})` : ''}`,
              );
            } catch (error) {
              const reason = (error as Error).message;
              skipped.push({ target: target.name, mode, connections, reason });
              log(`${label}: failed — ${reason}`);
            }
          }
        }
        for (const target of ready) {
          const measurements = measured.get(target.name);
          if (measurements) records.push(fold(measurements));
        }
      }
    }
  } finally {
    await Promise.all(targets.map((target) => target.stop()));
  }
  await upstream.service.stop();

  // Measured cell by cell; shown target by target.
  records.sort(
    (a, b) =>
      ALL_TARGETS.indexOf(a.target) - ALL_TARGETS.indexOf(b.target) ||
      ALL_MODES.indexOf(a.mode) - ALL_MODES.indexOf(b.mode) ||
      a.connections - b.connections,
  );
  const comparisons = compare(records);
  const runs = runsTable(records);
  const versus = comparisonTable(comparisons);
  const aims =
    `Aims for Switchyard: ≤ ${AIMS.cpuMsPerRequest} CPU ms/request; ≥ ${AIMS.throughputShare * 100}% of the floor's req/s at concurrency ` +
    `${AIMS.throughputAtConcurrency.join(' and ')}; ≤ ${AIMS.addedP50Ms} ms added p50 over the floor at concurrency ${AIMS.addedP50AtConcurrency}; the same for streams.`;

  log('\nResults (latency: whole response, streams to [DONE]; CPU: the process under test only)\n');
  log(renderText(runs));
  const shared = records.filter(isNoisy);
  if (shared.length > 0) {
    log(`\nWarning: ${shared.length} of ${records.length} runs shared the machine with other work (other CPU % > ${OTHER_CPU_WARNING_PERCENT}); rerun those on a quiet machine.`);
  }
  if (comparisons.length > 0) {
    log('\nSwitchyard (sy) against the floor\n');
    log(renderText(versus));
    const checks = comparisons.flatMap((c) => [c.throughputAimMet, c.addedP50AimMet, c.cpuAimMet]).filter((met): met is boolean => met !== null);
    log(`\n${aims}\nMet ${checks.filter(Boolean).length} of ${checks.length} checks.`);
  } else {
    log(`\nNo comparison: floor and Switchyard were not both measured.\n${aims}`);
  }
  const platformRows = platformCost(records);
  if (platformRows.rows.length > 0) {
    log(`\nWhat the API platform adds (key auth from the store + limits; usage is recorded in both rows); aim ≤ ${PLATFORM_AIM_MS} CPU ms/request with SQLite and in-memory limits\n`);
    log(renderText(platformRows));
  }
  if (skipped.length > 0) {
    log('\nSkipped:');
    for (const skip of skipped) log(`  ${[skip.target, skip.mode, skip.connections === undefined ? undefined : `c=${skip.connections}`].filter(Boolean).join(' ')}: ${skip.reason}`);
  }

  log('\nMarkdown:\n');
  log(renderMarkdown(runs));
  if (comparisons.length > 0) log(`\n${renderMarkdown(versus)}\n\n${aims}`);

  if (options.jsonPath) {
    const report = {
      date: new Date().toISOString(),
      machine: { node: process.version, platform: os.platform(), arch: os.arch(), cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model.trim() ?? null },
      options: { durationS: options.durationS, warmupS: options.warmupS, repeat: options.repeat, noisyRetries: options.noisyRetries, concurrency: options.concurrency, modes: options.modes, targets: options.targets },
      aims: AIMS,
      runs: records,
      comparisons,
      skipped,
    };
    await writeFile(options.jsonPath, `${JSON.stringify(report, null, 2)}\n`);
    log(`\nWrote ${options.jsonPath}`);
  }
}

process.once('SIGINT', () => {
  void stopAll().then(() => process.exit(130));
});

try {
  await main();
} catch (error) {
  process.stderr.write(`bench: ${(error as Error).message}\n`);
  process.exitCode = 1;
} finally {
  await stopAll();
}
