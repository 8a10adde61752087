import { after, before } from 'node:test';
// A real Switchyard serving the generated tiny GGUF through the embedded engine, for the
// test/llama/engine-*.test.ts files, plus what those tests need to judge its answers:
// the model's own tokenizer and chat template, a raw SSE reader, and small stream utilities.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Template } from '@huggingface/jinja';
import type { LlamaModel } from 'node-llama-cpp';
import type OpenAI from 'openai';
import type { ChatCompletionChunk, ChatCompletionMessageParam, ChatCompletionTool } from 'openai/resources/chat/completions';
import { getEngine } from '../../src/providers/llama/engine.js';
import { buildVocab } from '../../src/providers/llama/test-model/vocab.js';
import { writeTestModel } from '../../src/providers/llama/test-model/write-test-model.js';
import { startServer, type RunningServer } from './start-server.js';

/** One model entry as a config file would declare it; `file` defaults to the generated model. */
export interface TestModelEntry {
  id: string;
  file?: string;
  contextSize?: number;
  maxOutputTokens?: number;
  threads?: number;
  parallel?: number;
  contexts?: number;
  queueLimit?: number;
  preload?: boolean;
  idleUnloadSeconds?: number;
}

/**
 * A `logit_bias` that bans the test model's end-of-generation tokens (`<|im_end|>`, and `</s>`,
 * which llama.cpp counts as one too), so that a reply runs to its limit whatever the seed draws:
 * for tests that need a reply still going when they act on it (an abort, a second stream).
 */
export const NO_END_OF_GENERATION: Readonly<Record<string, number>> = (() => {
  const vocab = buildVocab();
  return { [String(vocab.imEndId)]: -100, [String(vocab.tokens.indexOf('</s>'))]: -100 };
})();

export interface LlamaTestServer {
  server: RunningServer;
  client: OpenAI;
  /** The temporary directory holding the generated model (and whatever a test writes there). */
  dir: string;
  /** The generated tiny model. */
  modelFile: string;
  close(): Promise<void>;
}

/**
 * Writes the tiny model into a fresh temporary directory and starts Switchyard with one `llama`
 * provider `local` serving `models` (threads 1 unless said otherwise: on this 2-core machine any
 * other count is hundreds of times slower, see docs/engine-notes.md).
 */
export async function startLlamaServer(
  models: TestModelEntry[] | ((modelFile: string, dir: string) => Promise<TestModelEntry[]> | TestModelEntry[]),
  options: { seed?: number } = {},
): Promise<LlamaTestServer> {
  const dir = await mkdtemp(path.join(tmpdir(), 'switchyard-engine-'));
  const modelFile = path.join(dir, 'tiny.gguf');
  await writeTestModel(modelFile, { seed: options.seed ?? 1 });
  const entries = typeof models === 'function' ? await models(modelFile, dir) : models;
  const server = await startServer({
    providers: [
      {
        id: 'local',
        kind: 'llama',
        gpu: false,
        models: entries.map((entry) => ({ contextSize: 1024, threads: 1, parallel: 4, queueLimit: 8, file: modelFile, ...entry })),
      },
    ],
  });
  return {
    server,
    client: server.client(),
    dir,
    modelFile,
    async close() {
      await server.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A llama test server for the enclosing `describe`: started before its tests, closed after. Its
 * client does not retry, so a 5xx a test provokes is seen once, as it was sent.
 */
export function useLlamaServer(models: TestModelEntry[]): { readonly running: LlamaTestServer; readonly client: OpenAI } {
  let running: LlamaTestServer | undefined;
  let client: OpenAI | undefined;
  before(async () => {
    running = await startLlamaServer(models);
    client = running.client.withOptions({ maxRetries: 0 });
  });
  after(async () => {
    await running?.close();
  });
  return {
    get running() {
      return running!;
    },
    get client() {
      return client!;
    },
  };
}

/**
 * The model as llama.cpp sees it, loaded a second time in the test process, to count tokens
 * independently of the server: the prompt is rendered with the GGUF's own Jinja chat template (as
 * llama.cpp and transformers do) and tokenized by the model's own tokenizer, specials parsed, BOS
 * prepended as the model's metadata asks.
 */
export class ReferenceTokenizer {
  private constructor(
    readonly model: LlamaModel,
    private readonly template: Template,
  ) {}

  static async load(modelFile: string): Promise<ReferenceTokenizer> {
    const llama = await getEngine(false);
    const model = await llama.loadModel({ modelPath: modelFile });
    const source = model.fileInfo.metadata.tokenizer.chat_template;
    if (!source) throw new Error('the test model has no chat template');
    return new ReferenceTokenizer(model, new Template(source));
  }

  render(messages: ChatCompletionMessageParam[], tools?: ChatCompletionTool[]): string {
    const special = (token: number | null) => (token === null ? '' : this.model.detokenize([token as never], true));
    return this.template.render({
      messages: messages.map((message) => ({ ...message })),
      tools,
      add_generation_prompt: true,
      bos_token: special(this.model.tokens.bos),
      eos_token: special(this.model.tokens.eos),
    });
  }

  promptTokens(messages: ChatCompletionMessageParam[], tools?: ChatCompletionTool[]): number {
    const tokens = this.model.tokenize(this.render(messages, tools), true);
    const bos = this.model.tokens.bos;
    const addBos = bos !== null && this.model.tokens.shouldPrependBosToken && tokens[0] !== bos;
    return tokens.length + (addBos ? 1 : 0);
  }

  tokenCount(text: string): number {
    return this.model.tokenize(text).length;
  }

  async dispose(): Promise<void> {
    await this.model.dispose();
  }
}

export interface SseEvent {
  /** The `data:` payload as sent. */
  data: string;
  /** performance.now() when the event was parsed on the client. */
  at: number;
}

/** POSTs a body and reads the SSE answer event by event, without the SDK in between. */
export async function rawStream(origin: string, body: unknown, signal?: AbortSignal): Promise<{ status: number; headers: Headers; events: SseEvent[] }> {
  const response = await fetch(`${origin}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: 'Bearer sk-test' },
    body: JSON.stringify(body),
    signal: signal ?? null,
  });
  const events: SseEvent[] = [];
  if (!response.body || !(response.headers.get('content-type') ?? '').includes('text/event-stream')) {
    await response.text();
    return { status: response.status, headers: response.headers, events };
  }
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const piece of response.body) {
    buffer += decoder.decode(piece as Uint8Array, { stream: true });
    buffer = buffer.replace(/\r\n/g, '\n');
    let end: number;
    while ((end = buffer.indexOf('\n\n')) !== -1) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = block
        .split('\n')
        .filter((line) => line.startsWith('data:'))
        .map((line) => line.slice(5).replace(/^ /, ''))
        .join('\n');
      if (data) events.push({ data, at: performance.now() });
    }
  }
  return { status: response.status, headers: response.headers, events };
}

/** Every chunk of an SDK stream with its arrival time. */
export async function collect(stream: AsyncIterable<ChatCompletionChunk>): Promise<Array<{ chunk: ChatCompletionChunk; at: number }>> {
  const out: Array<{ chunk: ChatCompletionChunk; at: number }> = [];
  for await (const chunk of stream) out.push({ chunk, at: performance.now() });
  return out;
}

/** The content of choice `index`, joined from its deltas. */
export function contentOf(chunks: readonly ChatCompletionChunk[], index = 0): string {
  return chunks
    .flatMap((chunk) => chunk.choices.filter((choice) => choice.index === index))
    .map((choice) => choice.delta.content ?? '')
    .join('');
}

/** Tool calls reassembled from streamed deltas, the way OpenAI documents it: by `index`. */
export function toolCallsOf(chunks: readonly ChatCompletionChunk[], index = 0): Array<{ id: string; type: string; name: string; arguments: string }> {
  const calls: Array<{ id: string; type: string; name: string; arguments: string }> = [];
  for (const chunk of chunks) {
    for (const choice of chunk.choices) {
      if (choice.index !== index) continue;
      for (const delta of choice.delta.tool_calls ?? []) {
        const call = (calls[delta.index] ??= { id: '', type: '', name: '', arguments: '' });
        if (delta.id) call.id = delta.id;
        if (delta.type) call.type = delta.type;
        if (delta.function?.name) call.name += delta.function.name;
        if (delta.function?.arguments) call.arguments += delta.function.arguments;
      }
    }
  }
  return calls;
}

/** Waits until `predicate` holds or `ms` pass. */
export async function waitFor(predicate: () => boolean, ms: number): Promise<boolean> {
  // The monotonic clock: an NTP step of the wall clock must not cut the wait short.
  const deadline = performance.now() + ms;
  while (!predicate()) {
    if (performance.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return true;
}
