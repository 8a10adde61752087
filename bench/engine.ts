// Engine throughput: tokens/s of the embedded llama.cpp engine, measured directly through
// node-llama-cpp (a `sequence.evaluate` loop in this process) and through Switchyard's HTTP API
// (a real `switchyard serve` child process, streamed with fetch), same model, same context
// settings, same prompt tokens, same sampling and seeds, same max tokens, in the same run.
//
//   node bin/run-ts.mjs bench/engine.ts [--model file.gguf] [--tokens N] [--threads N] ...
//
// See bench/README.md ("Engine throughput benchmark") for the options and how to read the tables.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { getLlama, LlamaLogLevel, type Llama, type LlamaContext, type LlamaContextSequence, type LlamaModel, type Token } from 'node-llama-cpp';
import { defaultContexts, defaultThreads, sequencesPerContext } from '../src/providers/llama/llama-config.js';
import { samplingOptions } from '../src/providers/llama/sampling.js';
import { PromptRenderer } from '../src/providers/llama/render-prompt.js';
import { reuseCachedPrefix } from '../src/providers/llama/sequence-pool.js';
import { TEST_MODEL_SIZES, writeTestModel, type TestModelSize } from '../src/providers/llama/test-model/write-test-model.js';
import { flagValue, hasFlag } from './lib/args.js';
import { machineBusyMs, processCpuMs } from './lib/cpu.js';
import { freePort, spawnNode, stopAll, waitForOk, type ChildService } from './lib/processes.js';
import { fixed, renderMarkdown, renderText, type Table } from './lib/report.js';

const HELP = `Engine throughput: direct node-llama-cpp vs Switchyard's HTTP API, 1 and 4 concurrent streams.

  node bin/run-ts.mjs bench/engine.ts [options]

  --model FILE        a GGUF model (default: a generated test model, see --test-model)
  --test-model SIZE   the generated model when no --model: tiny (default, 1.8 MB), small
                      (27M parameters, ~110 MB: weights-bound like a real model on a CPU),
                      wide (tiny with a 151,936-token vocabulary, ~78 MB: sampling-bound) or
                      q4 (a 0.6B model's shape in Q4_0, ~360 MB, ~12 s to write: a real model's cost)
  --tokens N          completion tokens per stream (default 256)
  --threads N         engine threads for the main table (default: half the cores = ${defaultThreads()} here)
  --contexts N        engine contexts the 4 sequences are spread over, in both paths (default: the
                      provider's, one per sequence at 1 thread, else 1; --contexts 1 batches all 4)
  --context N         tokens per sequence (default: 1024, or more when prompt + tokens need it)
  --repeat N          measured runs per cell; the median is reported (default 5)
  --prompt TEXT       the user message (default: a request for a long story)
  --thread-counts L   comma list for the thread table, e.g. 1,2,4 (default: 1, half, all cores)
  --thread-tokens N   tokens per stream in the thread table (default 64)
  --thread-budget S   at most S seconds per thread-table run; slower runs are cut short (default 8)
  --no-thread-table   skip the thread table
  --stop-at-eos       let a stream end at an end-of-generation token (default: banned in both
                      paths, so that every stream generates --tokens tokens)
  --json FILE         also write every figure as JSON
  --markdown          also print the tables as markdown
  --help`;

const args = process.argv.slice(2);
if (hasFlag(args, 'help')) {
  console.log(HELP);
  process.exit(0);
}

function intFlag(name: string, fallback: number, min = 1): number {
  const raw = flagValue(args, name);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min) throw new Error(`--${name}: expected an integer >= ${min}, got ${raw}`);
  return value;
}

const TOKENS = intFlag('tokens', 256);
const THREADS = intFlag('threads', defaultThreads());
const CONTEXTS = intFlag('contexts', defaultContexts({ gpu: false, threads: THREADS, parallel: 4 }));
if (CONTEXTS > 4) throw new Error(`--contexts: at most 4 (one per sequence), got ${CONTEXTS}`);
const REPEAT = intFlag('repeat', 5);
const THREAD_TOKENS = intFlag('thread-tokens', 64);
const THREAD_BUDGET_MS = intFlag('thread-budget', 8) * 1000;
const PROMPT = flagValue(args, 'prompt') ?? 'Write a long story about a river, a mountain town and the people who live there.';
const STREAMS = [1, 4] as const;
const CORES = os.availableParallelism();
/** Seeds per stream; the same in both paths, so that both sample the same tokens. */
const seedOf = (stream: number) => 1000 + stream;

/**
 * The request both paths serve: temperature 1 and, unless --stop-at-eos, `logit_bias` -100 on the
 * model's end-of-generation tokens, so that a model that ends its reply after 40 tokens is not
 * measured on 40 tokens, mostly prompt time. The bias is set once the model is loaded.
 */
const sampled: { temperature: number; logit_bias?: Record<string, number> } = { temperature: 1 };

function banEndOfGeneration(model: LlamaModel): number {
  const vocabulary = (model.fileInfo.metadata as { tokenizer?: { ggml?: { tokens?: readonly string[] } } }).tokenizer?.ggml?.tokens?.length ?? 0;
  const ends = Array.from({ length: vocabulary }, (_, token) => token).filter((token) => model.isEogToken(token as Token));
  if (ends.length > 0) sampled.logit_bias = Object.fromEntries(ends.map((token) => [String(token), -100]));
  return ends.length;
}

// ---------------------------------------------------------------------------------------------
// Measurements

interface Run {
  /** Completion tokens over all streams. */
  tokens: number;
  /** From the first request (or evaluate call) to the last token, ms. */
  elapsedMs: number;
  /** Time to the first token of the first stream, ms. */
  firstTokenMs: number;
  /** CPU the rest of the machine used meanwhile, % of one core (noise indicator). */
  otherCpuPercent: number | undefined;
  /** CPU time of the process doing the generation (this one for direct, the server for HTTP), ms. */
  engineCpuMs: number | undefined;
  /** CPU time of this process when it is only the client (HTTP runs), ms. */
  clientCpuMs: number | undefined;
}

const tokensPerSecond = (run: Run) => (run.tokens * 1000) / run.elapsedMs;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** Runs `body` and charges the machine's CPU time to the bench process, `pid` or "other". */
async function measured(pid: number | undefined, body: () => Promise<Omit<Run, 'otherCpuPercent' | 'engineCpuMs' | 'clientCpuMs'>>): Promise<Run> {
  const busyBefore = machineBusyMs();
  const selfBefore = processCpuMs(process.pid);
  const serverBefore = pid === undefined ? 0 : processCpuMs(pid);
  const started = performance.now();
  const run = await body();
  const wall = performance.now() - started;
  const busy = machineBusyMs();
  const self = processCpuMs(process.pid);
  const server = pid === undefined ? 0 : processCpuMs(pid);
  let otherCpuPercent: number | undefined;
  if (busy !== undefined && busyBefore !== undefined && self !== undefined && selfBefore !== undefined && server !== undefined && serverBefore !== undefined) {
    otherCpuPercent = Math.max(0, ((busy - busyBefore - (self - selfBefore) - (server - serverBefore)) / wall) * 100);
  }
  const engineCpuMs =
    pid === undefined
      ? self !== undefined && selfBefore !== undefined ? self - selfBefore : undefined
      : server !== undefined && serverBefore !== undefined ? server - serverBefore : undefined;
  const clientCpuMs = pid !== undefined && self !== undefined && selfBefore !== undefined ? self - selfBefore : undefined;
  return { ...run, otherCpuPercent, engineCpuMs, clientCpuMs };
}

/** node-llama-cpp alone: `streams` sequences of one context, each a plain `evaluate` loop. */
async function directRun(context: LlamaContext, sequences: LlamaContextSequence[], prompt: Token[], streams: number, tokens: number, budgetMs = Infinity): Promise<Run> {
  return measured(undefined, async () => {
    // The prompt's cached prefix kept, as the provider keeps it. Cleared instead, a large model
    // would pay the prompt's prefill on every direct run and none on the HTTP ones.
    const kept: number[] = [];
    for (const sequence of sequences.slice(0, streams)) kept.push(await reuseCachedPrefix(sequence, prompt));
    const started = performance.now();
    const deadline = started + budgetMs;
    let firstTokenMs = Infinity;
    const counts = await Promise.all(
      sequences.slice(0, streams).map(async (sequence, stream) => {
        let count = 0;
        // Switchyard's own sampling options for the request (sampling.ts), built as the provider builds them.
        const options = await samplingOptions(sampled, context.model, seedOf(stream), () => []);
        for await (const token of sequence.evaluate(prompt.slice(kept[stream]), options)) {
          void token;
          if (count++ === 0) firstTokenMs = Math.min(firstTokenMs, performance.now() - started);
          if (count >= tokens || performance.now() > deadline) break;
        }
        return count;
      }),
    );
    return { tokens: counts.reduce((a, b) => a + b, 0), elapsedMs: performance.now() - started, firstTokenMs };
  });
}

/**
 * The HTTP client's connections: kept alive, as an SDK's are. The client is plain `node:http`, not
 * `fetch`: on a machine with few cores the client shares them with the engine, and fetch's web
 * streams cost about 120 µs of CPU per token read (node:http: a fraction of that), CPU the direct
 * path never pays. A client on another machine costs the server nothing; this comes closest.
 */
const clientAgent = new http.Agent({ keepAlive: true, maxSockets: 16 });

/** One streamed chat completion through Switchyard; resolves with its completion tokens (from usage). */
function httpStream(baseUrl: string, stream: number, tokens: number, started: number, onFirst: (ms: number) => void): Promise<number> {
  const body = JSON.stringify({
    model: 'local/bench',
    messages: [{ role: 'user', content: PROMPT }],
    max_tokens: tokens,
    ...sampled,
    seed: seedOf(stream),
    stream: true,
    stream_options: { include_usage: true },
  });
  return new Promise<number>((resolve, reject) => {
    const request = http.request(
      `${baseUrl}/v1/chat/completions`,
      { method: 'POST', agent: clientAgent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), authorization: 'Bearer sk-bench' } },
      (response) => {
        const pieces: Buffer[] = [];
        response.on('data', (piece: Buffer) => {
          if (pieces.length === 0) onFirst(performance.now() - started);
          pieces.push(piece);
        });
        response.on('error', reject);
        response.on('end', () => {
          const text = Buffer.concat(pieces).toString('utf8');
          if (response.statusCode !== 200) return reject(new Error(`HTTP ${response.statusCode}: ${text}`));
          // Only the usage event is parsed, once the stream is over: the client's own cost stays out of the figure.
          const usageAt = text.indexOf('"usage":{');
          const at = usageAt === -1 ? -1 : text.lastIndexOf('data: {', usageAt);
          const data = at === -1 ? undefined : (JSON.parse(text.slice(at + 6, text.indexOf('\n', at))) as { usage?: { completion_tokens: number } });
          if (!data?.usage) return reject(new Error('the stream carried no usage'));
          resolve(data.usage.completion_tokens);
        });
      },
    );
    request.on('error', reject);
    request.end(body);
  });
}

async function httpRun(server: Switchyard, streams: number, tokens: number): Promise<Run> {
  return measured(server.service.pid, async () => {
    const started = performance.now();
    let firstTokenMs = Infinity;
    // The first body bytes carry the role chunk; the content follows within the same token step.
    const counts = await Promise.all(
      Array.from({ length: streams }, (_, stream) => httpStream(server.baseUrl, stream, tokens, started, (ms) => (firstTokenMs = Math.min(firstTokenMs, ms)))),
    );
    return { tokens: counts.reduce((a, b) => a + b, 0), elapsedMs: performance.now() - started, firstTokenMs };
  });
}

// ---------------------------------------------------------------------------------------------
// Setup

interface Switchyard {
  service: ChildService;
  baseUrl: string;
  stop(): Promise<void>;
}

async function startSwitchyard(file: string, contextSize: number, threads: number, contexts: number, dir: string): Promise<Switchyard> {
  const configFile = path.join(dir, 'switchyard.json');
  const config = {
    store: { dataDir: path.join(dir, 'data') },
    providers: [
      {
        id: 'local',
        kind: 'llama',
        gpu: false,
        models: [{ id: 'bench', file, contextSize, threads, parallel: 4, contexts, queueLimit: 16, preload: true }],
      },
    ],
  };
  await writeFile(configFile, JSON.stringify(config, null, 2));
  const port = await freePort();
  const env = { ...process.env };
  delete env.SWITCHYARD_API_KEYS;
  delete env.SWITCHYARD_CONFIG;
  const service = spawnNode('switchyard', ['bin/switchyard.mjs', 'serve', '--config', configFile, '--port', String(port), '--host', '127.0.0.1'], env);
  const baseUrl = `http://127.0.0.1:${port}`;
  await waitForOk(`${baseUrl}/v1/models`, { authorization: 'Bearer sk-bench' }, service, 60_000);
  return { service, baseUrl, stop: () => service.stop() };
}

function rssMb(pid: number): number | undefined {
  try {
    const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'latin1'));
    return match ? Number(match[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** The prompt exactly as the provider builds it: the model's own template, specials parsed, BOS. */
function promptTokens(model: LlamaModel): Token[] {
  const metadata = model.fileInfo.metadata as { tokenizer?: { chat_template?: string } };
  const special = (token: Token | null) => (token === null ? '' : model.detokenize([token], true));
  const renderer = new PromptRenderer(metadata.tokenizer?.chat_template, { bos: special(model.tokens.bos), eos: special(model.tokens.eos) });
  const { text } = renderer.render({ messages: [{ role: 'user', content: PROMPT }], tools: [], enableThinking: true });
  const tokens = model.tokenize(text, true);
  const bos = model.tokens.bos;
  if (bos !== null && model.tokens.shouldPrependBosToken && tokens[0] !== bos) tokens.unshift(bos);
  return tokens;
}

function threadCounts(): Array<{ threads: number; label: string }> {
  const raw = flagValue(args, 'thread-counts');
  const wanted = raw
    ? raw.split(',').map((value) => ({ threads: Number(value), label: '' }))
    : [
        { threads: 1, label: 'one' },
        { threads: defaultThreads(), label: 'default: half the cores' },
        { threads: CORES, label: 'all cores' },
      ];
  const merged = new Map<number, string[]>();
  for (const { threads, label } of wanted) {
    if (!Number.isInteger(threads) || threads < 1) throw new Error(`--thread-counts: not a thread count: ${threads}`);
    merged.set(threads, [...(merged.get(threads) ?? []), ...(label ? [label] : [])]);
  }
  return [...merged].map(([threads, labels]) => ({ threads, label: labels.join(' = ') }));
}

// ---------------------------------------------------------------------------------------------
// Main

async function main(): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'switchyard-bench-engine-'));
  let llama: Llama | undefined;
  let server: Switchyard | undefined;
  try {
    let file = flagValue(args, 'model');
    if (file) file = path.resolve(file);
    else {
      const size = flagValue(args, 'test-model') ?? 'tiny';
      if (!(size in TEST_MODEL_SIZES)) throw new Error(`--test-model: expected ${Object.keys(TEST_MODEL_SIZES).join(' or ')}, got ${size}`);
      file = path.join(dir, `${size}.gguf`);
      await writeTestModel(file, { seed: 1, size: size as TestModelSize });
    }

    const rssStart = process.memoryUsage().rss / 1024 ** 2;
    llama = await getLlama({ gpu: false, build: 'never', skipDownload: true, progressLogs: false, logLevel: LlamaLogLevel.error });
    const rssEngine = process.memoryUsage().rss / 1024 ** 2;
    const model = await llama.loadModel({ modelPath: file });
    const prompt = promptTokens(model);
    const banned = hasFlag(args, 'stop-at-eos') ? 0 : banEndOfGeneration(model);
    const contextSize = intFlag('context', Math.max(1024, prompt.length + TOKENS + 16), 64);
    if (prompt.length + TOKENS > contextSize) throw new Error(`--context ${contextSize} cannot hold the ${prompt.length}-token prompt and ${TOKENS} tokens`);
    // The 4 sequences over CONTEXTS contexts, as the provider lays them out; stream k runs on
    // context k % CONTEXTS, as the provider's pool spreads requests over its least busy context.
    const contexts = await Promise.all(sequencesPerContext(4, CONTEXTS).map((sequences) => model.createContext({ contextSize, sequences, threads: THREADS })));
    const context = contexts[0]!;
    const byContext = contexts.map((each) => Array.from({ length: each.totalSequences }, () => each.getSequence()));
    const sequences = Array.from({ length: 4 }, (_, stream) => byContext[stream % CONTEXTS]![Math.floor(stream / CONTEXTS)]!);
    const rssLoaded = process.memoryUsage().rss / 1024 ** 2;

    console.log(`Engine throughput: ${path.basename(file)} (${(model.size / 1024 ** 2).toFixed(1)} MB, ${model.trainContextSize}-token training context)`);
    console.log(
      `${os.cpus()[0]?.model ?? 'cpu'} · ${CORES} cores · node ${process.version} · node-llama-cpp, CPU · threads ${THREADS} · context ${contextSize}/sequence × 4 sequences${
        CONTEXTS === 1 ? ' on 1 context' : ` over ${CONTEXTS} contexts`
      }`,
    );
    console.log(
      `prompt ${prompt.length} tokens · ${TOKENS} completion tokens per stream · temperature 1, seeds ${seedOf(0)}+ · median of ${REPEAT} runs · ${
        banned > 0 ? `${banned} end-of-generation token${banned === 1 ? '' : 's'} banned` : 'ends at end of generation'
      }`,
    );
    console.log(`load average before: ${os.loadavg().map((v) => v.toFixed(2)).join(' ')}`);

    server = await startSwitchyard(file, contextSize, THREADS, CONTEXTS, dir);
    const rssServerIdle = rssMb(server.service.pid);
    // Warm-ups: the model loads (preload) and both paths run once.
    for (const streams of STREAMS) {
      await directRun(context, sequences, prompt, streams, Math.min(TOKENS, 32));
      await httpRun(server, streams, Math.min(TOKENS, 32));
    }
    const rssServerLoaded = rssMb(server.service.pid);

    const runs: Record<'direct' | 'http', Record<number, Run[]>> = { direct: { 1: [], 4: [] }, http: { 1: [], 4: [] } };
    // Interleaved, so that a change in the machine's load hits both paths alike.
    for (let repeat = 0; repeat < REPEAT; repeat++) {
      for (const streams of STREAMS) {
        runs.direct[streams]!.push(await directRun(context, sequences, prompt, streams, TOKENS));
        runs.http[streams]!.push(await httpRun(server, streams, TOKENS));
      }
    }
    const rate = (path: 'direct' | 'http', streams: number) => median(runs[path][streams]!.map(tokensPerSecond));
    const firstToken = (path: 'direct' | 'http', streams: number) => median(runs[path][streams]!.map((run) => run.firstTokenMs));
    const tokensOf = (path: 'direct' | 'http', streams: number) => median(runs[path][streams]!.map((run) => run.tokens));
    /** CPU ms per 1,000 tokens of the generating process: steadier than tokens/s on a shared machine. */
    const cpuPerThousand = (path: 'direct' | 'http', streams: number) => {
      const values = runs[path][streams]!.filter((run) => run.engineCpuMs !== undefined).map((run) => (run.engineCpuMs! * 1000) / run.tokens);
      return values.length ? median(values) : undefined;
    };
    const clientPerThousand = (streams: number) => {
      const values = runs.http[streams]!.filter((run) => run.clientCpuMs !== undefined).map((run) => (run.clientCpuMs! * 1000) / run.tokens);
      return values.length ? median(values) : undefined;
    };
    const other = (streams: number) => {
      const values = [...runs.direct[streams]!, ...runs.http[streams]!].map((run) => run.otherCpuPercent).filter((v): v is number => v !== undefined);
      return values.length ? median(values) : undefined;
    };
    const verdict = (ok: boolean) => (ok ? 'ok' : 'MISSED');

    const throughput: Table = {
      headers: ['streams', 'direct tok/s', 'HTTP tok/s', 'HTTP/direct', 'aim', 'direct CPU ms/1k tok', 'server CPU ms/1k tok', 'client CPU ms/1k tok', 'direct 1st tok ms', 'HTTP 1st byte ms', 'tokens (direct/HTTP)', 'other CPU %'],
      right: new Set([1, 2, 3, 5, 6, 7, 8, 9, 10, 11]),
      rows: STREAMS.map((streams) => {
        const ratio = rate('http', streams) / rate('direct', streams);
        return [
          streams === 1 ? '1' : `${streams} (aggregate)`,
          fixed(rate('direct', streams), 0),
          fixed(rate('http', streams), 0),
          `${fixed(ratio * 100, 1)}%`,
          `≥ 95% ${verdict(ratio >= 0.95)}`,
          fixed(cpuPerThousand('direct', streams), 0),
          fixed(cpuPerThousand('http', streams), 0),
          fixed(clientPerThousand(streams), 0),
          fixed(firstToken('direct', streams), 1),
          fixed(firstToken('http', streams), 1),
          `${tokensOf('direct', streams)}/${tokensOf('http', streams)}`,
          fixed(other(streams), 0),
        ];
      }),
    };
    const scaleDirect = rate('direct', 4) / rate('direct', 1);
    const scaleHttp = rate('http', 4) / rate('http', 1);
    const scaling: Table = {
      headers: ['path', '4 streams / 1 stream (aggregate tok/s)', 'per stream at 4, tok/s', 'aim'],
      right: new Set([1, 2]),
      rows: [
        ['direct', `${fixed(scaleDirect, 2)}×`, fixed(rate('direct', 4) / 4, 0), `≥ 2.5× ${verdict(scaleDirect >= 2.5)}`],
        ['HTTP', `${fixed(scaleHttp, 2)}×`, fixed(rate('http', 4) / 4, 0), `≥ 2.5× ${verdict(scaleHttp >= 2.5)}`],
      ],
    };
    const memory: Table = {
      headers: ['process', 'RSS MB', 'what'],
      right: new Set([1]),
      rows: [
        ['switchyard serve', fixed(rssServerIdle, 0), 'started, before the model loaded (preload runs after listen)'],
        ['switchyard serve', fixed(rssServerLoaded, 0), `model loaded, context ${contextSize} × 4 sequences${CONTEXTS === 1 ? '' : ` over ${CONTEXTS} contexts`}, after the warm-up`],
        ['switchyard serve', fixed(rssMb(server.service.pid), 0), 'after the measured runs'],
        ['bench (direct)', fixed(rssEngine - rssStart, 0), 'llama.cpp binding loaded (getLlama), added to the bench process'],
        ['bench (direct)', fixed(rssLoaded - rssEngine, 0), `model + ${CONTEXTS === 1 ? 'context' : `${CONTEXTS} contexts`} added to the bench process`],
      ],
    };

    let threadTable: Table | undefined;
    const threadFigures: Array<{ threads: number; label: string; one: Run; four: Run }> = [];
    if (!hasFlag(args, 'no-thread-table')) {
      // One context per thread count, direct engine only: the HTTP path runs the same engine with
      // whatever `threads` its config says, and adds the same overhead whatever the count.
      await server.stop();
      server = undefined;
      for (const { threads, label } of threadCounts()) {
        // Always the 4 sequences on one context: the table isolates what the thread count does.
        const reuse = threads === THREADS && CONTEXTS === 1;
        const threadContext = reuse ? context : await model.createContext({ contextSize, sequences: 4, threads });
        const threadSequences = reuse ? sequences : Array.from({ length: 4 }, () => threadContext.getSequence());
        await directRun(threadContext, threadSequences, prompt, 1, 4, THREAD_BUDGET_MS); // warm-up
        const one = await directRun(threadContext, threadSequences, prompt, 1, THREAD_TOKENS, THREAD_BUDGET_MS);
        const four = await directRun(threadContext, threadSequences, prompt, 4, THREAD_TOKENS, THREAD_BUDGET_MS);
        threadFigures.push({ threads, label, one, four });
        if (threadContext !== context) await threadContext.dispose();
      }
      const best = Math.max(...threadFigures.map((figure) => tokensPerSecond(figure.one)));
      threadTable = {
        headers: ['threads', 'which', '1 stream tok/s', '4 streams tok/s', 'vs best (1 stream)', 'tokens (1/4)', 'other CPU %'],
        right: new Set([0, 2, 3, 4, 6]),
        rows: threadFigures.map(({ threads, label, one, four }) => [
          String(threads),
          label,
          fixed(tokensPerSecond(one), 1),
          fixed(tokensPerSecond(four), 1),
          `${fixed((tokensPerSecond(one) / best) * 100, 1)}%`,
          `${one.tokens}/${four.tokens}${one.elapsedMs >= THREAD_BUDGET_MS || four.elapsedMs >= THREAD_BUDGET_MS ? ' (cut at budget)' : ''}`,
          fixed(median([one.otherCpuPercent ?? NaN, four.otherCpuPercent ?? NaN].filter(Number.isFinite)), 0),
        ]),
      };
    }

    console.log(`load average after: ${os.loadavg().map((v) => v.toFixed(2)).join(' ')}\n`);
    const sections: Array<[string, Table]> = [
      ['Throughput (median tokens/s over the whole run, prompt included)', throughput],
      ['Concurrency scaling', scaling],
      ['Memory', memory],
      ...(threadTable ? ([[`Thread count (direct engine, 4 sequences on one context, ${THREAD_TOKENS} tokens per stream, ≤ ${THREAD_BUDGET_MS / 1000} s per run)`, threadTable]] as Array<[string, Table]>) : []),
    ];
    for (const [title, table] of sections) console.log(`${title}\n${renderText(table)}\n`);
    const noisy = [1, 4].some((streams) => (other(streams) ?? 0) > 10);
    if (noisy) console.log('Note: other processes used more than 10% of a core during the runs; the figures are noisy.\n');
    if (hasFlag(args, 'markdown')) for (const [title, table] of sections) console.log(`**${title}**\n\n${renderMarkdown(table)}\n`);

    const jsonFile = flagValue(args, 'json');
    if (jsonFile) {
      await writeFile(
        jsonFile,
        JSON.stringify({ model: file, contextSize, threads: THREADS, contexts: CONTEXTS, tokens: TOKENS, promptTokens: prompt.length, runs, threadFigures, memory: { rssServerIdle, rssServerLoaded, rssEngineMb: rssEngine - rssStart, rssModelMb: rssLoaded - rssEngine } }, null, 2),
      );
    }
  } finally {
    clientAgent.destroy();
    await server?.stop();
    await stopAll();
    await llama?.dispose();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
