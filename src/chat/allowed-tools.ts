import type { ChatCompletionToolChoiceOption } from 'openai/resources/chat/completions';
import { ValidationError } from '../errors/errors.js';

/**
 * The function names a `tool_choice: {type: 'allowed_tools'}` lets the model call, out of the
 * declared tools, and its `mode` (what `tool_choice` would have said); `undefined` for any other
 * `tool_choice`. Backends with no such list (the engine,
 * Anthropic) offer only these tools, so the model can call those and no other, as asked. An entry
 * that names no declared function cannot be honoured and is a 400 naming it; so is an empty list.
 */
export function allowedTools(
  choice: ChatCompletionToolChoiceOption | null | undefined,
  declared: ReadonlySet<string>,
): { names: Set<string>; mode: 'auto' | 'required' } | undefined {
  if (typeof choice !== 'object' || choice === null || choice.type !== 'allowed_tools') return undefined;
  const names = new Set<string>();
  for (const [index, entry] of choice.allowed_tools.tools.entries()) {
    const name = (entry as { type?: unknown; function?: { name?: unknown } }).function?.name;
    if ((entry as { type?: unknown }).type !== 'function' || typeof name !== 'string' || !declared.has(name)) {
      throw new ValidationError(
        `Invalid 'tool_choice.allowed_tools.tools[${index}]': expected {type: 'function', function: {name}} naming a function in 'tools'.`,
        `tool_choice.allowed_tools.tools[${index}]`,
      );
    }
    names.add(name);
  }
  if (names.size === 0) throw new ValidationError("Invalid 'tool_choice.allowed_tools.tools': at least one tool must be allowed.", 'tool_choice.allowed_tools.tools');
  return { names, mode: choice.allowed_tools.mode };
}
