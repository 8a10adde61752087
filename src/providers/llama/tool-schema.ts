import type { ChatCompletionFunctionTool } from 'openai/resources/chat/completions';
import { allowedTools } from '../../chat/allowed-tools.js';
import { UnsupportedFeatureError } from '../../errors/errors.js';
import type { ChatRequest } from '../provider.js';

export interface ToolPlan {
  /** The tools the model is shown and may call. */
  offered: ChatCompletionFunctionTool[];
  /** The tools it must call one of (a grammar holds it to them): the named one, or any when `required`. */
  forced: ChatCompletionFunctionTool[];
}

/**
 * What `tools` and `tool_choice` allow, with `allowed_tools` resolved: only the listed tools are
 * offered, and its `mode` is what `tool_choice` would have said. Custom (free-text) tools have no
 * counterpart in the engine and are a 400, never a silent drop (a `tool_choice` of a custom tool
 * names one of them); so is an allowed tool that names no declared function.
 */
export function toolPlan(request: ChatRequest): ToolPlan {
  const declared = request.tools ?? [];
  declared.forEach((tool, index) => {
    if (tool.type !== 'function') throw new UnsupportedFeatureError(`The embedded engine does not support tools of type '${tool.type}' ('tools[${index}]').`, `tools[${index}]`);
  });
  let tools = declared as ChatCompletionFunctionTool[];
  let choice = request.tool_choice;
  const allowed = allowedTools(choice, new Set(tools.map((tool) => tool.function.name)));
  if (allowed) {
    tools = tools.filter((tool) => allowed.names.has(tool.function.name));
    choice = allowed.mode;
  }
  if (choice === 'none') return { offered: [], forced: [] };
  if (choice && typeof choice === 'object' && choice.type === 'function') {
    const named = choice.function.name;
    return { offered: tools, forced: tools.filter((tool) => tool.function.name === named) };
  }
  return { offered: tools, forced: choice === 'required' ? tools : [] };
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
