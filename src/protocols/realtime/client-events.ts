import { z } from 'zod';

// The client events Switchyard serves, loosely: unknown fields are kept (and ignored), so a client
// on a newer version of the protocol is not refused for a field it adds.

const contentPart = z.looseObject({
  type: z.string(),
  text: z.string().optional(),
  // `input_image` parts (user messages): a data URI or an https URL, as chat's `image_url.url`.
  image_url: z.string().optional(),
  detail: z.enum(['auto', 'low', 'high']).optional(),
});

export const ItemSchema = z.discriminatedUnion('type', [
  z.looseObject({
    type: z.literal('message'),
    id: z.string().optional(),
    role: z.enum(['system', 'user', 'assistant']),
    content: z.array(contentPart),
  }),
  z.looseObject({
    type: z.literal('function_call'),
    id: z.string().optional(),
    call_id: z.string().min(1),
    name: z.string().min(1),
    arguments: z.string(),
  }),
  z.looseObject({
    type: z.literal('function_call_output'),
    id: z.string().optional(),
    call_id: z.string().min(1),
    output: z.string(),
  }),
]);
export type RealtimeItemInput = z.output<typeof ItemSchema>;

/**
 * What `response.input` takes: "an array accepting raw Items and references to existing Items"
 * (the spec), a reference being `{type: "item_reference", id}` naming an item of the conversation.
 */
const ResponseInputItemSchema = z.discriminatedUnion('type', [
  ...ItemSchema.options,
  z.looseObject({ type: z.literal('item_reference'), id: z.string().min(1) }),
]);

export const FunctionToolSchema = z.looseObject({
  type: z.literal('function'),
  name: z.string().min(1),
  description: z.string().optional(),
  parameters: z.record(z.string(), z.unknown()).optional(),
});

const toolChoice = z.union([z.enum(['auto', 'none', 'required']), z.looseObject({ type: z.literal('function'), name: z.string().min(1) })]);
const maxOutputTokens = z.union([z.number().int().positive(), z.literal('inf')]);

/** The session fields a client may set (`session.update`); audio ones are caught before this. */
export const SessionUpdateSchema = z.looseObject({
  instructions: z.string().optional(),
  tools: z.array(FunctionToolSchema).optional(),
  tool_choice: toolChoice.optional(),
  output_modalities: z.array(z.string()).optional(),
  modalities: z.array(z.string()).optional(),
  max_output_tokens: maxOutputTokens.optional(),
  max_response_output_tokens: maxOutputTokens.optional(),
  temperature: z.number().min(0).max(2).optional(),
});
export type SessionUpdate = z.output<typeof SessionUpdateSchema>;

/** Per-response overrides of `response.create`. */
export const ResponseOverridesSchema = SessionUpdateSchema.extend({
  conversation: z.union([z.literal('auto'), z.literal('none'), z.string()]).optional(),
  input: z.array(ResponseInputItemSchema).optional(),
  // `Metadata | null` in the SDK's RealtimeResponseCreateParams: null is "none".
  metadata: z.record(z.string(), z.string()).nullable().optional(),
});
export type ResponseOverrides = z.output<typeof ResponseOverridesSchema>;

export const ClientEventSchema = z.discriminatedUnion('type', [
  z.looseObject({ type: z.literal('session.update'), event_id: z.string().optional(), session: SessionUpdateSchema }),
  z.looseObject({
    type: z.literal('conversation.item.create'),
    event_id: z.string().optional(),
    previous_item_id: z.string().nullable().optional(),
    item: ItemSchema,
  }),
  z.looseObject({ type: z.literal('conversation.item.delete'), event_id: z.string().optional(), item_id: z.string().min(1) }),
  z.looseObject({ type: z.literal('conversation.item.retrieve'), event_id: z.string().optional(), item_id: z.string().min(1) }),
  z.looseObject({ type: z.literal('response.create'), event_id: z.string().optional(), response: ResponseOverridesSchema.optional() }),
  z.looseObject({ type: z.literal('response.cancel'), event_id: z.string().optional(), response_id: z.string().optional() }),
]);
export type ClientEvent = z.output<typeof ClientEventSchema>;

/** Fields that ask for audio, wherever they sit in a session or response: Switchyard serves text only. */
export function audioField(session: Record<string, unknown> | undefined, at: string): string | undefined {
  if (!session) return undefined;
  for (const key of ['output_modalities', 'modalities']) {
    const modalities = session[key];
    if (Array.isArray(modalities) && modalities.includes('audio')) return `${at}.${key}`;
  }
  for (const key of ['audio', 'voice', 'input_audio_format', 'output_audio_format', 'input_audio_transcription', 'input_audio_noise_reduction']) {
    if (session[key] != null) return `${at}.${key}`;
  }
  if (session.turn_detection != null) return `${at}.turn_detection`;
  return undefined;
}
