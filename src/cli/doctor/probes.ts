import OpenAI, { APIError } from 'openai';
import { Ajv } from 'ajv';

export type ProbeStatus = 'pass' | 'fail' | 'skip';

export interface ProbeResult {
  name: string;
  status: ProbeStatus;
  detail: string;
  ms: number;
}

export interface ProbeContext {
  client: OpenAI;
  /** A client with a key that cannot be valid, for the 401 probe. */
  badKeyClient: OpenAI;
  model: string;
  embeddingModel: string;
  keyGiven: boolean;
}

/** What one probe found: its status and a short detail (what was seen, or why it failed). */
type Probe = (context: ProbeContext) => Promise<{ status: ProbeStatus; detail: string }>;

const pass = (detail: string) => ({ status: 'pass' as const, detail });
const fail = (detail: string) => ({ status: 'fail' as const, detail });

/** A 1×1 PNG. */
const PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=';

const WEATHER_TOOL = {
  type: 'function' as const,
  function: {
    name: 'get_weather',
    description: 'The weather in a city',
    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'], additionalProperties: false },
  },
};
const ask = (content: string) => [{ role: 'user' as const, content }];

export const PROBES: Array<[string, Probe]> = [
  [
    'models',
    async ({ client, model }) => {
      const models = await client.models.list();
      const ids = models.data.map((entry) => entry.id);
      return ids.includes(model) ? pass(`${ids.length} models, ${model} among them`) : fail(`${ids.length} models, ${model} not listed`);
    },
  ],
  [
    'chat',
    async ({ client, model }) => {
      const completion = await client.chat.completions.create({ model, messages: ask('Say hello in five words.'), max_tokens: 32 });
      const choice = completion.choices[0];
      if (!choice) return fail('no choices');
      return pass(`finish_reason ${choice.finish_reason}, ${completion.usage?.completion_tokens ?? '?'} tokens`);
    },
  ],
  [
    'streaming',
    async ({ client, model }) => {
      const stream = await client.chat.completions.create({ model, messages: ask('Count to five.'), max_tokens: 32, stream: true });
      let chunks = 0;
      let finishes = 0;
      for await (const chunk of stream) {
        chunks++;
        for (const choice of chunk.choices) if (choice.finish_reason) finishes++;
      }
      return finishes === 1 ? pass(`${chunks} chunks, one finish_reason`) : fail(`${chunks} chunks, ${finishes} finish_reasons (expected one)`);
    },
  ],
  [
    'stream include_usage',
    async ({ client, model }) => {
      const stream = await client.chat.completions.create({ model, messages: ask('Hi'), max_tokens: 16, stream: true, stream_options: { include_usage: true } });
      let last: OpenAI.Chat.Completions.ChatCompletionChunk | undefined;
      for await (const chunk of stream) last = chunk;
      if (!last?.usage) return fail('no usage chunk at the end');
      return last.choices.length === 0 ? pass(`usage ${last.usage.prompt_tokens}+${last.usage.completion_tokens} tokens, choices: []`) : fail('the usage chunk has choices');
    },
  ],
  [
    'tool calls',
    async ({ client, model }) => {
      const completion = await client.chat.completions.create({ model, messages: ask('What is the weather in Paris? Use get_weather.'), tools: [WEATHER_TOOL], tool_choice: { type: 'function', function: { name: 'get_weather' } }, max_tokens: 64 });
      const call = completion.choices[0]?.message.tool_calls?.[0];
      if (!call || call.type !== 'function') return fail('no tool call');
      JSON.parse(call.function.arguments);
      return pass(`${call.function.name}(${call.function.arguments})`);
    },
  ],
  [
    'tool calls streamed',
    async ({ client, model }) => {
      const runner = client.chat.completions.stream({ model, messages: ask('What is the weather in Oslo? Use get_weather.'), tools: [WEATHER_TOOL], tool_choice: { type: 'function', function: { name: 'get_weather' } }, max_tokens: 64 });
      const final = await runner.finalChatCompletion();
      const call = final.choices[0]?.message.tool_calls?.[0];
      if (!call || call.type !== 'function') return fail('no tool call assembled from the stream');
      JSON.parse(call.function.arguments);
      return pass(`arguments assembled: ${call.function.arguments}`);
    },
  ],
  [
    'json_schema',
    async ({ client, model }) => {
      const schema = { type: 'object', properties: { name: { type: 'string' }, age: { type: 'integer' } }, required: ['name', 'age'], additionalProperties: false };
      const completion = await client.chat.completions.create({ model, messages: ask('A person, as JSON.'), response_format: { type: 'json_schema', json_schema: { name: 'person', schema, strict: true } }, max_tokens: 128 });
      const content = completion.choices[0]?.message.content ?? '';
      const valid = new Ajv().validate(schema, JSON.parse(content));
      return valid ? pass(content.length > 60 ? `${content.slice(0, 57)}...` : content) : fail(`does not validate: ${content.slice(0, 80)}`);
    },
  ],
  [
    'images',
    async ({ client, model }) => {
      const completion = await client.chat.completions.create({
        model,
        messages: [{ role: 'user', content: [{ type: 'text', text: 'What is this?' }, { type: 'image_url', image_url: { url: `data:image/png;base64,${PNG}` } }] }],
        max_tokens: 16,
      });
      return pass(`answered (${completion.choices[0]?.finish_reason})`);
    },
  ],
  [
    'reasoning',
    async ({ client, model }) => {
      const completion = await client.chat.completions.create({ model, messages: ask('Is 17 prime?'), reasoning_effort: 'low', max_completion_tokens: 256 });
      const message = completion.choices[0]?.message as { reasoning?: string; reasoning_content?: string } | undefined;
      const reasoning = message?.reasoning ?? message?.reasoning_content;
      const tokens = completion.usage?.completion_tokens_details?.reasoning_tokens;
      return pass(reasoning ? `reasoning returned (${reasoning.length} chars)` : tokens ? `${tokens} reasoning tokens, reasoning not returned` : 'reasoning_effort accepted; no reasoning seen');
    },
  ],
  [
    'embeddings float',
    async ({ client, embeddingModel }) => {
      const result = await client.embeddings.create({ model: embeddingModel, input: ['hello', 'world'], encoding_format: 'float' });
      const dimensions = result.data[0]?.embedding.length ?? 0;
      return result.data.length === 2 && dimensions > 0 ? pass(`2 vectors of ${dimensions}`) : fail(`${result.data.length} vectors`);
    },
  ],
  [
    'embeddings base64',
    async ({ client, embeddingModel }) => {
      // The SDK asks for base64 by default and decodes it; compared with the float answer.
      const decoded = await client.embeddings.create({ model: embeddingModel, input: 'hello' });
      const floats = await client.embeddings.create({ model: embeddingModel, input: 'hello', encoding_format: 'float' });
      const a = decoded.data[0]!.embedding;
      const b = floats.data[0]!.embedding;
      const worst = a.reduce((max, value, index) => Math.max(max, Math.abs(value - Math.fround(b[index]!))), 0);
      return a.length === b.length && worst <= 1e-6 ? pass(`equal to float within float32 precision (${a.length} dims)`) : fail(`differs from float by ${worst}`);
    },
  ],
  [
    'responses',
    async ({ client, model }) => {
      const response = await client.responses.create({ model, input: 'Say hello.', max_output_tokens: 32 });
      return response.object === 'response' ? pass(`${response.status}, ${response.output.length} output items`) : fail(`object ${String(response.object)}`);
    },
  ],
  [
    'error shapes',
    async ({ client, badKeyClient, model, keyGiven }) => {
      const seen: string[] = [];
      const expect = async (what: string, status: number, call: () => Promise<unknown>) => {
        try {
          await call();
          seen.push(`${what}: no error`);
          return false;
        } catch (error) {
          if (!(error instanceof APIError)) throw error;
          const body = error.error as { message?: unknown; type?: unknown } | undefined;
          const shaped = error.status === status && typeof body?.message === 'string' && typeof body.type === 'string' && 'param' in (body ?? {}) && 'code' in (body ?? {});
          seen.push(`${what}: ${error.status}${shaped ? '' : ' (not OpenAI-shaped)'}`);
          return shaped;
        }
      };
      const checks = [
        await expect('bad temperature', 400, () => client.chat.completions.create({ model, messages: ask('x'), temperature: 9 })),
        await expect('unknown model', 404, () => client.chat.completions.create({ model: 'no-such-model-doctor', messages: ask('x') })),
      ];
      if (keyGiven) checks.push(await expect('bad key', 401, () => badKeyClient.models.list()));
      return checks.every(Boolean) ? pass(seen.join('; ')) : fail(seen.join('; '));
    },
  ],
];

/** Runs every probe in turn; a probe's failure is its result, never the end of the run. */
export async function runProbes(context: ProbeContext, onResult?: (result: ProbeResult) => void): Promise<ProbeResult[]> {
  const results: ProbeResult[] = [];
  for (const [name, probe] of PROBES) {
    const started = performance.now();
    let outcome: { status: ProbeStatus; detail: string };
    try {
      outcome = await probe(context);
    } catch (error) {
      outcome = fail(error instanceof APIError ? `${error.status ?? 'connection'}: ${String(error.message).replace(/\s+/g, ' ').slice(0, 160)}` : (error as Error).message.slice(0, 160));
    }
    const result = { name, ...outcome, ms: Math.round(performance.now() - started) };
    results.push(result);
    onResult?.(result);
  }
  return results;
}
