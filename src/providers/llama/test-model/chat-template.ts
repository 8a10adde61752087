// ChatML chat template stored in the test model's `tokenizer.chat_template`.
// Roles are rendered verbatim, so system/user/assistant/tool all work.
// Assistant tool calls and the `tools` list are rendered as JSON so that a
// template-driven caller can exercise tool use against the tiny model; a
// message's content may be null/absent (assistant turns that only call tools).
// Tool-call arguments may be an OpenAI-style JSON string (emitted as is) or
// an object (serialized), so both callers' shapes render the same.
export const CHATML_TEMPLATE = [
  "{%- if tools is defined and tools -%}",
  "{{- '<|im_start|>system\\n' -}}",
  "{%- if messages[0].role == 'system' -%}{{- messages[0].content + '\\n\\n' -}}{%- endif -%}",
  "{{- 'You may call these tools:\\n<tools>\\n' -}}",
  "{%- for tool in tools -%}{{- (tool | tojson) + '\\n' -}}{%- endfor -%}",
  "{{- '</tools>\\nTo call one, reply with <tool_call>{\"name\": ..., \"arguments\": {...}}</tool_call><|im_end|>\\n' -}}",
  "{%- endif -%}",
  "{%- for message in messages -%}",
  "{%- if not (loop.first and message.role == 'system' and tools is defined and tools) -%}",
  "{{- '<|im_start|>' + message.role + '\\n' -}}",
  "{%- if message.content is defined and message.content is string -%}{{- message.content -}}{%- endif -%}",
  "{%- if message.tool_calls is defined and message.tool_calls -%}",
  "{%- for call in message.tool_calls -%}",
  "{%- set fn = call.function if call.function is defined else call -%}",
  "{%- set args = fn.arguments if fn.arguments is string else (fn.arguments | tojson) -%}",
  "{{- '<tool_call>{\"name\": ' + (fn.name | tojson) + ', \"arguments\": ' + args + '}</tool_call>' -}}",
  "{%- endfor -%}",
  "{%- endif -%}",
  "{{- '<|im_end|>\\n' -}}",
  "{%- endif -%}",
  "{%- endfor -%}",
  "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}",
].join('');

/**
 * The same ChatML with a thinking model's generation prompt, as Qwen3's template writes it: the
 * reply opens a `<think>` block, or, with `enable_thinking` false, an empty one already closed.
 */
export const THINKING_TEMPLATE = CHATML_TEMPLATE.replace(
  "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}",
  "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}" +
    "{%- if enable_thinking is defined and enable_thinking is false -%}{{- '<think>\\n\\n</think>\\n\\n' -}}{%- else -%}{{- '<think>\\n' -}}{%- endif -%}" +
    '{%- endif -%}',
);
