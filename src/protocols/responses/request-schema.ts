import { z } from 'zod';
import type { ResponseIncludable } from 'openai/resources/responses/responses';
import { reasoningEffortSchema } from '../../http/validation/chat-request-schema.js';

/**
 * The Responses API's create request (openapi.yaml, CreateResponse), as far as Switchyard serves it.
 * Objects are loose: fields of item kinds and tools we do not translate are refused later, by name,
 * in the translation (to-chat-request.ts), where the reason can be stated.
 */

const nullable = <T extends z.ZodType>(schema: T) => schema.nullable().optional();

const functionName = z.string().regex(/^[a-zA-Z0-9_-]{1,64}$/, 'must be 1 to 64 letters, digits, underscores or dashes');
const jsonSchemaObject = z.record(z.string(), z.unknown());

const inputText = z.looseObject({ type: z.literal('input_text'), text: z.string() });
const inputImage = z.looseObject({
  type: z.literal('input_image'),
  image_url: nullable(z.string().min(1)),
  file_id: nullable(z.string()),
  detail: z.enum(['auto', 'low', 'high', 'original']).optional(),
});
const inputFile = z.looseObject({
  type: z.literal('input_file'),
  file_data: z.string().optional(),
  file_id: nullable(z.string()),
  file_url: z.string().optional(),
  filename: z.string().optional(),
});
const outputText = z.looseObject({ type: z.literal('output_text'), text: z.string() });
const refusal = z.looseObject({ type: z.literal('refusal'), refusal: z.string() });

const contentPart = z.discriminatedUnion('type', [inputText, inputImage, inputFile, outputText, refusal]);

const messageItem = z.looseObject({
  type: z.literal('message').optional(),
  id: z.string().optional(),
  role: z.enum(['user', 'assistant', 'system', 'developer']),
  content: z.union([z.string(), z.array(contentPart)]),
  status: z.enum(['in_progress', 'completed', 'incomplete']).optional(),
});

const functionCallItem = z.looseObject({
  type: z.literal('function_call'),
  id: z.string().optional(),
  call_id: z.string().min(1),
  name: z.string().min(1),
  arguments: z.string(),
  status: z.enum(['in_progress', 'completed', 'incomplete']).optional(),
});

const functionCallOutputItem = z.looseObject({
  type: z.literal('function_call_output'),
  id: nullable(z.string()),
  call_id: z.string().min(1),
  output: z.union([z.string(), z.array(z.discriminatedUnion('type', [inputText, inputImage, inputFile]))]),
  status: nullable(z.enum(['in_progress', 'completed', 'incomplete'])),
});

const reasoningItem = z.looseObject({
  type: z.literal('reasoning'),
  id: z.string().optional(),
  summary: z.array(z.looseObject({ type: z.literal('summary_text'), text: z.string() })),
  content: z.array(z.looseObject({ type: z.literal('reasoning_text'), text: z.string() })).optional(),
  encrypted_content: nullable(z.string()),
});

const itemReference = z.looseObject({ type: z.literal('item_reference'), id: z.string() });

/** Any other item kind: its `type` must be a string; translation names what is not served. */
const otherItem = z.looseObject({ type: z.string() });

/**
 * The schema an input item is checked against, chosen by its `type` (a message may omit it): a
 * plain union would let a broken message pass as "some other item" and lose the precise 400.
 */
export function inputItemSchemaFor(item: unknown): z.ZodType {
  const type = item !== null && typeof item === 'object' ? (item as { type?: unknown }).type : undefined;
  switch (type) {
    case undefined:
    case 'message':
      return messageItem;
    case 'function_call':
      return functionCallItem;
    case 'function_call_output':
      return functionCallOutputItem;
    case 'reasoning':
      return reasoningItem;
    case 'item_reference':
      return itemReference;
    default:
      return otherItem;
  }
}

export type MessageItemParam = z.output<typeof messageItem>;
export type FunctionCallItemParam = z.output<typeof functionCallItem>;
export type FunctionCallOutputItemParam = z.output<typeof functionCallOutputItem>;
export type ReasoningItemParam = z.output<typeof reasoningItem>;
export type InputItemParam = MessageItemParam | FunctionCallItemParam | FunctionCallOutputItemParam | ReasoningItemParam | { type: string };

const functionTool = z.looseObject({
  type: z.literal('function'),
  name: functionName,
  description: nullable(z.string()),
  parameters: nullable(jsonSchemaObject),
  strict: nullable(z.boolean()),
});

/** Function tools are checked field by field; other tool kinds are refused by name in translation. */
export function toolSchemaFor(tool: unknown): z.ZodType {
  const type = tool !== null && typeof tool === 'object' ? (tool as { type?: unknown }).type : undefined;
  return type === 'function' ? functionTool : z.looseObject({ type: z.string() });
}
export type FunctionToolParam = z.output<typeof functionTool>;

const toolChoiceSchema = z.union([
  z.enum(['none', 'auto', 'required']),
  z.looseObject({ type: z.string() }),
]);

/** The object forms of `tool_choice`, checked once their `type` is known. */
export const functionToolChoice = z.looseObject({ type: z.literal('function'), name: z.string().min(1) });
export const allowedToolsChoice = z.looseObject({
  type: z.literal('allowed_tools'),
  mode: z.enum(['auto', 'required']),
  tools: z.array(z.looseObject({ type: z.string(), name: z.string().optional() })),
});

const textFormatSchema = z.discriminatedUnion('type', [
  z.looseObject({ type: z.literal('text') }),
  z.looseObject({ type: z.literal('json_object') }),
  z.looseObject({
    type: z.literal('json_schema'),
    name: functionName,
    schema: jsonSchemaObject,
    description: z.string().optional(),
    strict: nullable(z.boolean()),
  }),
]);

/**
 * Every value `include` may hold (the spec's IncludeEnum); any other is a 400 naming the entry:
 * taking a misspelt one silently would drop what the client asked for (logprobs, say). Values for
 * OpenAI-hosted tools are valid and accepted: Switchyard makes no such items, so there is nothing to add.
 */
const includables = [
  'file_search_call.results',
  'web_search_call.results',
  'web_search_call.action.sources',
  'message.input_image.image_url',
  'computer_call_output.output.image_url',
  'code_interpreter_call.outputs',
  'reasoning.encrypted_content',
  'message.output_text.logprobs',
] as const satisfies readonly ResponseIncludable[];

const requestShape = {
  model: z.string().min(1),
  // Items are checked one by one against the schema their type calls for (inputItemSchemaFor).
  input: z.union([z.string(), z.array(z.looseObject({}))]).optional(),
  instructions: nullable(z.string()),
  previous_response_id: nullable(z.string().min(1)),
  store: nullable(z.boolean()),
  stream: nullable(z.boolean()),
  stream_options: nullable(z.looseObject({ include_obfuscation: z.boolean().optional() })),
  background: nullable(z.boolean()),
  conversation: z.unknown().optional(),
  prompt: z.unknown().optional(),
  include: nullable(z.array(z.enum(includables))),
  tools: z.array(z.looseObject({ type: z.string() })).max(128).optional(),
  tool_choice: toolChoiceSchema.optional(),
  parallel_tool_calls: nullable(z.boolean()),
  max_tool_calls: nullable(z.number().int().min(1)),
  text: z
    .looseObject({
      format: textFormatSchema.optional(),
      verbosity: nullable(z.enum(['low', 'medium', 'high'])),
    })
    .optional(),
  reasoning: nullable(
    z.looseObject({
      effort: nullable(reasoningEffortSchema),
      summary: nullable(z.enum(['auto', 'concise', 'detailed'])),
      generate_summary: nullable(z.enum(['auto', 'concise', 'detailed'])),
    }),
  ),
  // OpenAI refuses fewer than 16 output tokens with this same 400.
  max_output_tokens: nullable(z.number().int().min(16)),
  temperature: nullable(z.number().min(0).max(2)),
  top_p: nullable(z.number().min(0).max(1)),
  top_logprobs: nullable(z.number().int().min(0).max(20)),
  truncation: nullable(z.enum(['auto', 'disabled'])),
  metadata: nullable(
    z
      .record(z.string().max(64), z.string().max(512))
      .refine((value) => Object.keys(value).length <= 16, 'must have at most 16 keys'),
  ),
  user: nullable(z.string()),
  safety_identifier: nullable(z.string().max(64)),
  prompt_cache_key: nullable(z.string()),
  service_tier: nullable(z.enum(['auto', 'default', 'flex', 'scale', 'priority', 'fast', 'ultrafast'])),
};

export const responsesRequestSchema = z.looseObject(requestShape);

// Typed from the closed shape: an index signature would swallow the named fields under Omit.
export type ResponsesRequest = Omit<z.output<z.ZodObject<typeof requestShape>>, 'input' | 'tools'> & {
  input?: string | InputItemParam[] | undefined;
  tools?: Array<FunctionToolParam | { type: string }> | undefined;
};
