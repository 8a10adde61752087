import type {
  Response,
  ResponseFunctionToolCall,
  ResponseItem,
  ResponseOutputItem,
  ResponseOutputMessage,
  ResponseReasoningItem,
  ResponseStreamEvent,
} from 'openai/resources/responses/responses';

/**
 * The Response object as the server sends it: OpenAI's type without `output_text`, which is an
 * SDK-side convenience the API itself never sends.
 */
export type ResponseObject = Omit<Response, 'output_text'>;

/** A stream event as the server sends it (events that carry a response carry ours). */
export type ServerEvent =
  | Exclude<ResponseStreamEvent, { response: Response }>
  | (Omit<Extract<ResponseStreamEvent, { response: Response }>, 'response'> & { response: ResponseObject });

/** An event before its place in the stream is known. */
export type UnnumberedEvent = ServerEvent extends infer E ? (E extends ServerEvent ? Omit<E, 'sequence_number'> : never) : never;

export type OutputItem = ResponseOutputItem;
export type OutputMessage = ResponseOutputMessage;
export type FunctionCallItem = ResponseFunctionToolCall & { id: string; status: 'in_progress' | 'completed' | 'incomplete' };
export type ReasoningItem = ResponseReasoningItem;

/** An item of a response's context, as `GET /v1/responses/{id}/input_items` lists it (every item has an id). */
export type ContextItem = ResponseItem;
