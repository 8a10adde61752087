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
