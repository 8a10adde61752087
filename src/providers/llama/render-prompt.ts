import { Template } from '@huggingface/jinja';
import type { ChatCompletionMessageParam, ChatCompletionTool } from 'openai/resources/chat/completions';
import { UnsupportedFeatureError } from '../../errors/errors.js';

/** ChatML, for models whose GGUF carries no chat template. */
export const CHATML_TEMPLATE =
  "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

interface TemplateMessage {
  role: string;
  content: string;
  name?: string;
  tool_calls?: Array<{ id: string; type: 'function'; function: { name: string; arguments: unknown } }>;
  tool_call_id?: string;
}

export interface RenderOptions {
  messages: readonly ChatCompletionMessageParam[];
  tools: readonly ChatCompletionTool[];
  /** False turns thinking off where the template knows how (`enable_thinking`). */
  enableThinking: boolean;
}

export interface RenderedPrompt {
  text: string;
  /** The template opened a `<think>` block for the reply: generation starts inside reasoning. */
  startsInReasoning: boolean;
}

function textOf(content: ChatCompletionMessageParam['content'], index: number): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content
    .map((part, partIndex) => {
      if (part.type === 'text') return part.text;
      if (part.type === 'refusal') return part.refusal;
      throw new UnsupportedFeatureError(
        `This model does not accept ${part.type} content.`,
        `messages[${index}].content[${partIndex}]`,
      );
    })
    .join('\n');
}

/** Tool-call arguments as the objects most templates expect (`arguments | tojson`). */
function argumentsValue(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** The tool instructions given to models whose template has no notion of tools. */
function toolSystemText(tools: readonly ChatCompletionTool[]): string {
  const signatures = tools
    .filter((tool) => tool.type === 'function')
    .map((tool) => JSON.stringify({ name: tool.function.name, description: tool.function.description, parameters: tool.function.parameters }));
  return (
    'You may call functions. To call one, reply with <tool_call>{"name": <function name>, "arguments": <arguments object>}</tool_call>.\n' +
    `Functions:\n${signatures.join('\n')}`
  );
}

/**
 * Renders OpenAI messages through a model's own Jinja chat template, the way the model was trained
 * to read them; compiled once per model.
 */
export class PromptRenderer {
  private readonly template: Template;
  private readonly knowsTools: boolean;

  constructor(
    source: string | undefined,
    private readonly specialTokens: { bos: string; eos: string },
  ) {
    const text = source && source.trim() ? source : CHATML_TEMPLATE;
    this.template = new Template(text);
    this.knowsTools = /\btools\b/.test(text);
  }

  render(options: RenderOptions): RenderedPrompt {
    const callNames = new Map<string, string>();
    const messages: TemplateMessage[] = options.messages.map((message, index) => {
      switch (message.role) {
        case 'system':
        case 'developer':
          // Few templates know `developer`; it means what `system` means.
          return { role: 'system', content: textOf(message.content, index) };
        case 'user':
          return { role: 'user', content: textOf(message.content, index) };
        case 'assistant': {
          const out: TemplateMessage = { role: 'assistant', content: textOf(message.content ?? '', index) };
          const calls = (message.tool_calls ?? []).filter((call) => call.type === 'function');
          if (calls.length > 0) {
            out.tool_calls = calls.map((call) => {
              callNames.set(call.id, call.function.name);
              return { id: call.id, type: 'function', function: { name: call.function.name, arguments: argumentsValue(call.function.arguments) } };
            });
          }
          return out;
        }
        case 'tool':
          return { role: 'tool', content: textOf(message.content, index), tool_call_id: message.tool_call_id, name: callNames.get(message.tool_call_id) ?? '' };
        case 'function':
          return { role: 'tool', content: message.content ?? '', name: message.name };
        default: {
          const unexpected: never = message;
          return unexpected;
        }
      }
    });

    if (options.tools.length > 0 && !this.knowsTools) {
      const instructions = toolSystemText(options.tools);
      if (messages[0]?.role === 'system') messages[0] = { ...messages[0], content: `${messages[0].content}\n\n${instructions}` };
      else messages.unshift({ role: 'system', content: instructions });
    }

    const text = this.template.render({
      messages,
      tools: options.tools.length > 0 ? options.tools : undefined,
      add_generation_prompt: true,
      enable_thinking: options.enableThinking,
      bos_token: this.specialTokens.bos,
      eos_token: this.specialTokens.eos,
    });
    return { text, startsInReasoning: /<think>\s*$/.test(text) };
  }
}
