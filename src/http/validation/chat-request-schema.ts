import { z } from 'zod';

/**
 * The chat completions request, field by field as OpenAI documents it (openapi.yaml,
 * CreateChatCompletionRequest). Objects are loose: fields we do not know pass through untouched to
 * OpenAI-compatible upstreams. Field rules that span fields (tool_choice needs tools...) live in
 * chat-request-rules.ts.
 */

const nullable = <T extends z.ZodType>(schema: T) => schema.nullable().optional();

const textPart = z.looseObject({ type: z.literal('text'), text: z.string() });
/** OpenAI's seeds are int64: one beyond 2^53 arrives rounded, and is a seed all the same. */
export const int64Seed = z.number().min(-(2 ** 63)).max(2 ** 63).refine(Number.isInteger, 'Expected an integer');
const refusalPart = z.looseObject({ type: z.literal('refusal'), refusal: z.string() });
const imagePart = z.looseObject({
  type: z.literal('image_url'),
  image_url: z.looseObject({
    url: z.string().min(1),
    detail: z.enum(['auto', 'low', 'high']).optional(),
  }),
});
const audioPart = z.looseObject({
  type: z.literal('input_audio'),
  input_audio: z.looseObject({ data: z.string(), format: z.enum(['wav', 'mp3']) }),
});
const filePart = z.looseObject({
  type: z.literal('file'),
  file: z.looseObject({
    file_data: z.string().optional(),
    file_id: z.string().optional(),
    filename: z.string().optional(),
  }),
});

const textContent = z.union([z.string(), z.array(textPart).min(1)]);
const userContent = z.union([
  z.string(),
  z.array(z.discriminatedUnion('type', [textPart, imagePart, audioPart, filePart])).min(1),
]);
const assistantContent = z.union([z.string(), z.array(z.discriminatedUnion('type', [textPart, refusalPart])).min(1)]);

const name = z.string().min(1).optional();

/** A call the assistant made, sent back in the history: a function call, or a custom tool's (free-form input). */
export const toolCallSchema = z.discriminatedUnion('type', [
  z.looseObject({
    id: z.string().min(1),
    type: z.literal('function'),
    function: z.looseObject({ name: z.string().min(1), arguments: z.string() }),
  }),
  z.looseObject({
    id: z.string().min(1),
    type: z.literal('custom'),
    custom: z.looseObject({ name: z.string().min(1), input: z.string() }),
  }),
]);

const messageSchema = z.discriminatedUnion('role', [
  z.looseObject({ role: z.literal('system'), content: textContent, name }),
  z.looseObject({ role: z.literal('developer'), content: textContent, name }),
  z.looseObject({ role: z.literal('user'), content: userContent, name }),
  z.looseObject({
    role: z.literal('assistant'),
    content: nullable(assistantContent),
    refusal: nullable(z.string()),
    name,
    tool_calls: z.array(toolCallSchema).optional(),
    function_call: nullable(z.looseObject({ name: z.string(), arguments: z.string() })),
    reasoning: nullable(z.string()),
    reasoning_content: nullable(z.string()),
  }),
  z.looseObject({ role: z.literal('tool'), content: textContent, tool_call_id: z.string().min(1) }),
  z.looseObject({ role: z.literal('function'), content: z.string().nullable(), name: z.string().min(1) }),
]);

const functionName = z
  .string()
  .regex(/^[a-zA-Z0-9_-]{1,64}$/, 'must be 1 to 64 letters, digits, underscores or dashes');

const jsonSchemaObject = z.record(z.string(), z.unknown());

const toolSchema = z.discriminatedUnion('type', [
  z.looseObject({
    type: z.literal('function'),
    function: z.looseObject({
      name: functionName,
      description: z.string().optional(),
      parameters: jsonSchemaObject.optional(),
      strict: nullable(z.boolean()),
    }),
  }),
  z.looseObject({
    type: z.literal('custom'),
    custom: z.looseObject({ name: functionName, description: z.string().optional() }),
  }),
]);

const toolChoiceSchema = z.union([
  z.enum(['none', 'auto', 'required']),
  z.looseObject({ type: z.literal('function'), function: z.looseObject({ name: z.string().min(1) }) }),
  z.looseObject({ type: z.literal('custom'), custom: z.looseObject({ name: z.string().min(1) }) }),
  z.looseObject({
    type: z.literal('allowed_tools'),
    allowed_tools: z.looseObject({ mode: z.enum(['auto', 'required']), tools: z.array(z.record(z.string(), z.unknown())) }),
  }),
]);

const responseFormatSchema = z.discriminatedUnion('type', [
  z.looseObject({ type: z.literal('text') }),
  z.looseObject({ type: z.literal('json_object') }),
  z.looseObject({
    type: z.literal('json_schema'),
    json_schema: z.looseObject({
      name: functionName,
      description: z.string().optional(),
      schema: jsonSchemaObject.optional(),
      strict: nullable(z.boolean()),
    }),
  }),
]);

export const reasoningEffortSchema = z.enum(['none', 'minimal', 'low', 'medium', 'high', 'xhigh', 'max']);

const probability = (low: number, high: number) => nullable(z.number().min(low).max(high));
const tokenCount = nullable(z.number().int().min(1));

export const chatRequestSchema = z.looseObject({
  model: z.string().min(1),
  messages: z.array(messageSchema).min(1),
  audio: nullable(z.looseObject({ voice: z.union([z.string(), z.looseObject({ id: z.string() })]), format: z.enum(['wav', 'aac', 'mp3', 'flac', 'opus', 'pcm16']) })),
  frequency_penalty: probability(-2, 2),
  presence_penalty: probability(-2, 2),
  function_call: z.union([z.enum(['none', 'auto']), z.looseObject({ name: functionName })]).optional(),
  functions: z.array(z.looseObject({ name: functionName })).min(1).max(128).optional(),
  logit_bias: nullable(
    z.record(z.string().regex(/^\d+$/, 'keys must be token ids'), z.number().min(-100).max(100)),
  ),
  logprobs: nullable(z.boolean()),
  top_logprobs: nullable(z.number().int().min(0).max(20)),
  max_tokens: tokenCount,
  max_completion_tokens: tokenCount,
  metadata: nullable(
    z
      .record(z.string().max(64), z.string().max(512))
      .refine((value) => Object.keys(value).length <= 16, 'must have at most 16 keys'),
  ),
  modalities: nullable(z.array(z.enum(['text', 'audio']))),
  n: nullable(z.number().int().min(1).max(128)),
  parallel_tool_calls: nullable(z.boolean()),
  prediction: nullable(z.looseObject({ type: z.literal('content'), content: z.union([z.string(), z.array(textPart).min(1)]) })),
  prompt_cache_key: nullable(z.string()),
  reasoning_effort: nullable(reasoningEffortSchema),
  /** Extension: `true` asks for the model's reasoning on `message.reasoning`; an object sets effort. */
  reasoning: nullable(
    z.union([
      z.boolean(),
      z.looseObject({
        enabled: z.boolean().optional(),
        effort: reasoningEffortSchema.optional(),
        max_tokens: z.number().int().min(1).optional(),
        exclude: z.boolean().optional(),
      }),
    ]),
  ),
  response_format: responseFormatSchema.optional(),
  safety_identifier: nullable(z.string().max(64)),
  // OpenAI takes any int64; beyond 2^53 a JSON number arrives rounded, still a whole number.
  seed: nullable(int64Seed),
  service_tier: nullable(z.enum(['auto', 'default', 'flex', 'scale', 'priority', 'fast', 'ultrafast'])),
  stop: nullable(z.union([z.string(), z.array(z.string()).min(1).max(4)])),
  store: nullable(z.boolean()),
  stream: nullable(z.boolean()),
  stream_options: nullable(
    z.looseObject({ include_usage: z.boolean().optional(), include_obfuscation: z.boolean().optional() }),
  ),
  temperature: probability(0, 2),
  top_p: probability(0, 1),
  /** Extensions understood by the local engine; passed through to upstreams that know them. */
  top_k: nullable(z.number().int().min(0)),
  min_p: probability(0, 1),
  tool_choice: toolChoiceSchema.optional(),
  tools: z.array(toolSchema).max(128).optional(),
  user: nullable(z.string()),
  verbosity: nullable(z.enum(['low', 'medium', 'high'])),
  web_search_options: nullable(z.looseObject({})),
});

export type ChatRequestBody = z.output<typeof chatRequestSchema>;
