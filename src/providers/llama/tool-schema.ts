import type { ChatCompletionFunctionTool } from 'openai/resources/chat/completions';
import type { ChatRequest } from '../provider.js';

/** The tools a request forces a call to: the named one, or any of them when `required`. */
export function forcedTools(request: ChatRequest): ChatCompletionFunctionTool[] {
  const tools = (request.tools ?? []).filter((tool): tool is ChatCompletionFunctionTool => tool.type === 'function');
  const choice = request.tool_choice;
  if (choice && typeof choice === 'object' && choice.type === 'function') {
    return tools.filter((tool) => tool.function.name === choice.function.name);
  }
  return choice === 'required' ? tools : [];
}

/**
 * The JSON schema a forced call's output must follow: `{"name": <one of the tools>, "arguments":
 * <that tool's parameters>}`, so the name is always a real tool and the arguments always validate.
 */
export function toolCallSchema(tools: readonly ChatCompletionFunctionTool[]): unknown {
  const variants = tools.map((tool) => ({
    type: 'object',
    properties: {
      name: { const: tool.function.name },
      arguments: tool.function.parameters ?? { type: 'object', properties: {} },
    },
    required: ['name', 'arguments'],
    additionalProperties: false,
  }));
  return variants.length === 1 ? variants[0] : { oneOf: variants };
}

/**
 * A JSON schema in the form the engine's grammar builder reads right: it turns `anyOf` into a
 * grammar that only allows `null`, so `anyOf` becomes the equivalent-for-generation `oneOf`.
 */
export function grammarSchema(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(grammarSchema);
  if (schema === null || typeof schema !== 'object') return schema;
  return Object.fromEntries(
    Object.entries(schema).map(([key, value]) => {
      // Under these keys the names are the schema's own (a property may be called `anyOf`).
      if ((key === 'properties' || key === '$defs' || key === 'definitions') && value && typeof value === 'object') {
        return [key, Object.fromEntries(Object.entries(value).map(([name, sub]) => [name, grammarSchema(sub)]))];
      }
      return [key === 'anyOf' ? 'oneOf' : key, grammarSchema(value)];
    }),
  );
}
