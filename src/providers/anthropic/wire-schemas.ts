import { z } from 'zod';

/*
 * Anthropic's Messages API on the wire (https://docs.anthropic.com/en/api/messages and
 * https://docs.anthropic.com/en/docs/build-with-claude/streaming). What we send is typed only; what
 * we receive is parsed with loose schemas: unknown fields are kept and ignored, unknown event,
 * block and delta types are read as `unknown` and skipped, so a new server feature never breaks a reply.
 */

// ——— Request (what we send) ———

export type AnthropicImageSource =
  | { type: 'base64'; media_type: string; data: string }
  | { type: 'url'; url: string };

export type AnthropicRequestBlock =
  | { type: 'text'; text: string; cache_control?: unknown }
  | { type: 'image'; source: AnthropicImageSource; cache_control?: unknown }
  | { type: 'document'; source: { type: 'base64'; media_type: string; data: string } | { type: 'url'; url: string }; cache_control?: unknown }
  | { type: 'tool_use'; id: string; name: string; input: unknown }
  | { type: 'tool_result'; tool_use_id: string; content: string | Array<{ type: 'text'; text: string }> }
  | { type: 'thinking'; thinking: string; signature: string }
  | { type: 'redacted_thinking'; data: string };

export interface AnthropicRequestMessage {
  role: 'user' | 'assistant';
  content: AnthropicRequestBlock[];
}

export interface AnthropicTool {
  name: string;
  description?: string;
  input_schema: Record<string, unknown>;
}

export type AnthropicToolChoice =
  | { type: 'auto'; disable_parallel_tool_use?: boolean }
  | { type: 'any'; disable_parallel_tool_use?: boolean }
  | { type: 'tool'; name: string; disable_parallel_tool_use?: boolean }
  | { type: 'none' };

export interface AnthropicRequest {
  model: string;
  max_tokens: number;
  messages: AnthropicRequestMessage[];
  system?: Array<{ type: 'text'; text: string; cache_control?: unknown }>;
  stop_sequences?: string[];
  temperature?: number;
  top_p?: number;
  top_k?: number;
  tools?: AnthropicTool[];
  tool_choice?: AnthropicToolChoice;
  thinking?: { type: 'enabled'; budget_tokens: number };
  metadata?: { user_id: string };
  stream?: boolean;
}

// ——— Response (what we receive) ———

export const UsageSchema = z.looseObject({
  input_tokens: z.number().nullish(),
  output_tokens: z.number().nullish(),
  cache_creation_input_tokens: z.number().nullish(),
  cache_read_input_tokens: z.number().nullish(),
});
export type AnthropicUsage = z.output<typeof UsageSchema>;

const TextBlock = z.looseObject({ type: z.literal('text'), text: z.string() });
const ThinkingBlock = z.looseObject({ type: z.literal('thinking'), thinking: z.string(), signature: z.string().optional() });
const RedactedThinkingBlock = z.looseObject({ type: z.literal('redacted_thinking'), data: z.string().optional() });
const ToolUseBlock = z.looseObject({ type: z.literal('tool_use'), id: z.string(), name: z.string(), input: z.unknown().optional() });

const KNOWN_BLOCKS = z.discriminatedUnion('type', [TextBlock, ThinkingBlock, RedactedThinkingBlock, ToolUseBlock]);
/** A known block, or any block type we do not translate (server tools, their results, future kinds). */
export type AnthropicContentBlock = z.output<typeof KNOWN_BLOCKS> | { type: 'unknown'; originalType: string };

const TextDelta = z.looseObject({ type: z.literal('text_delta'), text: z.string() });
const InputJsonDelta = z.looseObject({ type: z.literal('input_json_delta'), partial_json: z.string() });
const ThinkingDelta = z.looseObject({ type: z.literal('thinking_delta'), thinking: z.string() });
const SignatureDelta = z.looseObject({ type: z.literal('signature_delta'), signature: z.string() });
const KNOWN_DELTAS = z.discriminatedUnion('type', [TextDelta, InputJsonDelta, ThinkingDelta, SignatureDelta]);
export type AnthropicBlockDelta = z.output<typeof KNOWN_DELTAS> | { type: 'unknown'; originalType: string };

/** Reads a block or a delta: a known type must have its fields; an unknown type is kept by name only. */
function tolerant<T extends z.ZodType>(known: T, names: ReadonlySet<string>) {
  return z.looseObject({ type: z.string() }).transform((value, context): z.output<T> | { type: 'unknown'; originalType: string } => {
    if (!names.has(value.type)) return { type: 'unknown', originalType: value.type };
    const parsed = known.safeParse(value);
    if (!parsed.success) {
      for (const issue of parsed.error.issues) context.addIssue({ ...issue, code: 'custom', message: issue.message });
      return z.NEVER;
    }
    return parsed.data;
  });
}

export const ContentBlockSchema = tolerant(KNOWN_BLOCKS, new Set(['text', 'thinking', 'redacted_thinking', 'tool_use']));
export const BlockDeltaSchema = tolerant(KNOWN_DELTAS, new Set(['text_delta', 'input_json_delta', 'thinking_delta', 'signature_delta']));

/** The non-streaming reply, and the `message` of `message_start` (with empty content). */
export const MessageSchema = z.looseObject({
  id: z.string(),
  model: z.string(),
  role: z.string().optional(),
  content: z.array(ContentBlockSchema),
  stop_reason: z.string().nullish(),
  stop_sequence: z.string().nullish(),
  usage: UsageSchema.optional(),
});
export type AnthropicMessage = z.output<typeof MessageSchema>;

export const ErrorDetailSchema = z.looseObject({ type: z.string().optional(), message: z.string().optional() });
export type AnthropicErrorDetail = z.output<typeof ErrorDetailSchema>;
/** `{ "type": "error", "error": { "type": "overloaded_error", "message": "Overloaded" } }`. */
export const ErrorBodySchema = z.looseObject({ error: ErrorDetailSchema });

const MessageStart = z.looseObject({ type: z.literal('message_start'), message: MessageSchema });
const ContentBlockStart = z.looseObject({ type: z.literal('content_block_start'), index: z.number().int(), content_block: ContentBlockSchema });
const ContentBlockDelta = z.looseObject({ type: z.literal('content_block_delta'), index: z.number().int(), delta: BlockDeltaSchema });
const ContentBlockStop = z.looseObject({ type: z.literal('content_block_stop'), index: z.number().int() });
const MessageDelta = z.looseObject({
  type: z.literal('message_delta'),
  delta: z.looseObject({ stop_reason: z.string().nullish(), stop_sequence: z.string().nullish() }),
  usage: UsageSchema.nullish(),
});
const MessageStop = z.looseObject({ type: z.literal('message_stop') });
const Ping = z.looseObject({ type: z.literal('ping') });
const ErrorEvent = z.looseObject({ type: z.literal('error'), error: ErrorDetailSchema });

const KNOWN_EVENTS = z.discriminatedUnion('type', [
  MessageStart,
  ContentBlockStart,
  ContentBlockDelta,
  ContentBlockStop,
  MessageDelta,
  MessageStop,
  Ping,
  ErrorEvent,
]);
export type AnthropicStreamEvent = z.output<typeof KNOWN_EVENTS>;
const KNOWN_EVENT_TYPES: ReadonlySet<string> = new Set(KNOWN_EVENTS.options.map((option) => option.shape.type.value));

/**
 * One stream event's data. `undefined` for an event type we do not know (tolerated and skipped);
 * throws when the data is not JSON or a known event lacks its fields.
 */
export function parseStreamEvent(data: string): AnthropicStreamEvent | undefined {
  const json: unknown = JSON.parse(data);
  const type = (json as { type?: unknown } | null)?.type;
  if (typeof type !== 'string' || !KNOWN_EVENT_TYPES.has(type)) return undefined;
  return KNOWN_EVENTS.parse(json);
}
