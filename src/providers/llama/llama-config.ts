import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';

/** Threads that suit this machine: half the cores (llama.cpp's matrix work does not gain from SMT
 * siblings, and on a 2-core machine one thread ran ~700x faster than the default of all cores). */
export function defaultThreads(): number {
  return Math.max(1, Math.floor(os.availableParallelism() / 2));
}

/** libuv's worker threads, read as libuv reads `UV_THREADPOOL_SIZE`: a leading integer, 1 to 1024; 4 when unset. */
export function threadPoolSize(value: string | undefined): number {
  if (value === undefined) return 4;
  const parsed = Number.parseInt(value, 10);
  return Number.isNaN(parsed) ? 1 : Math.min(1024, Math.max(1, parsed));
}

/**
 * Engine contexts a model's sequences are spread over when the config names none: on a CPU with
 * one thread per context, one context per sequence, up to as many as libuv has worker threads
 * (`UV_THREADPOOL_SIZE`, 4 by default: node-llama-cpp decodes on them, so more contexts could not
 * decode at once); otherwise one context for them all.
 *
 * Why: a context decodes one batch at a time, on one worker thread when it has one thread. With a
 * context per sequence, each sequence's decode runs on a thread of its own while the others' run
 * and while Node's thread turns tokens into chunks, so every core works; measured on 2 cores with
 * 4 streams over HTTP, the test models gave 40% (tiny), 18% (small) and 34% (q4, a 0.6B model's
 * shape in Q4_0) more tokens/s than 4 sequences batched on one context (docs/engine-notes.md).
 * More threads per context are no substitute on such a machine: llama.cpp's threads spin while
 * they wait. Where a context has several threads (a machine with cores to spare) it already
 * spreads over cores, and on a GPU one context batches everything at once: one context there.
 */
export function defaultContexts(options: { gpu: boolean; threads: number; parallel: number; workerThreads?: number }): number {
  const workers = options.workerThreads ?? threadPoolSize(process.env.UV_THREADPOOL_SIZE);
  return !options.gpu && options.threads === 1 ? Math.max(1, Math.min(options.parallel, workers)) : 1;
}

/** `parallel` sequences shared out over `contexts` contexts, the first ones taking the remainder: 5 over 2 is [3, 2]. */
export function sequencesPerContext(parallel: number, contexts: number): number[] {
  return Array.from({ length: contexts }, (_, index) => Math.floor(parallel / contexts) + (index < parallel % contexts ? 1 : 0));
}

export const DEFAULT_MODEL_CACHE = path.join(os.homedir(), '.cache', 'switchyard', 'models');

/** `~/models` → `/home/me/models`, as a shell would read it in a config file. */
function expandHome(value: string): string {
  return value === '~' || value.startsWith('~/') ? path.join(os.homedir(), value.slice(1)) : value;
}

/** A local GGUF model served by the embedded engine. */
export const LlamaModelSchema = z
  .strictObject({
    /** Public name: reached as `<provider>/<id>` or `<id>`. */
    id: z.string().min(1),
    /** A GGUF file on disk. */
    file: z.string().min(1).transform(expandHome).optional(),
    /** Where to pull it from when it is not in the cache: `hf:<owner>/<repo>/<file>.gguf` or an https URL. */
    uri: z.string().min(1).optional(),
    /** Tokens each sequence can hold (prompt + reply). */
    contextSize: z.number().int().min(64).default(4096),
    /** CPU threads for evaluation; default: half the cores. */
    threads: z.number().int().min(1).optional(),
    /** Sequences generated at once, batched together (continuous batching). */
    parallel: z.number().int().min(1).max(64).default(4),
    /** Engine contexts the `parallel` sequences are spread over, each decoding on its own thread(s)
     * at the same time; default: one per sequence on a CPU with `threads: 1` (at most 4, libuv's
     * worker threads), else 1 (see `defaultContexts`). Each context adds compute buffers of its
     * own: a few MB more memory per context. */
    contexts: z.number().int().min(1).max(64).optional(),
    /** Requests that may wait for a free sequence; more are refused with 429. */
    queueLimit: z.number().int().min(0).default(16),
    /** Load at start instead of on first use. */
    preload: z.boolean().default(false),
    /** Unload after this long without requests; unset: stay resident. */
    idleUnloadSeconds: z.number().int().positive().optional(),
    /** Largest `max_tokens` / `max_completion_tokens` a request may ask for (more is a 400), and the
     * limit of a request that sets none; unset, such a reply may run to the end of the context. */
    maxOutputTokens: z.number().int().positive().optional(),
    /** Layers offloaded to a GPU, when there is one. */
    gpuLayers: z.union([z.literal('auto'), z.number().int().min(0)]).default('auto'),
    /** A model that takes longer than this to load is an error, never a hung server. */
    loadTimeoutMs: z.number().int().positive().default(300_000),
  })
  .refine((model) => model.file !== undefined || model.uri !== undefined, { message: 'needs `file` or `uri`' })
  .refine((model) => model.contexts === undefined || model.contexts <= model.parallel, {
    message: 'cannot exceed `parallel`: every context needs a sequence',
    path: ['contexts'],
  });

export const LlamaProviderSchema = z.strictObject({
  id: z.string().regex(/^[a-z0-9][a-z0-9._-]*$/).default('local'),
  kind: z.literal('llama'),
  /** Where pulled models are kept. */
  modelCacheDir: z.string().min(1).transform(expandHome).default(DEFAULT_MODEL_CACHE),
  /** `auto` uses a GPU when the installed binaries find one; `false` stays on the CPU. */
  gpu: z.union([z.literal('auto'), z.literal(false)]).default('auto'),
  models: z.array(LlamaModelSchema).default([]),
});

export type LlamaModelConfig = z.output<typeof LlamaModelSchema>;
export type LlamaProviderConfig = z.output<typeof LlamaProviderSchema>;
