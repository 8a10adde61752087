import type { ChatCompletionMessageParam } from 'openai/resources/chat/completions';

/** What the sandbox sees of an image part: enough to prove the bytes arrived. */
export function describeImage(url: string): string {
  const match = /^data:([^;,]+)(?:;[^,]*)?;base64,(.*)$/s.exec(url);
  if (match) {
    const data = match[2]!;
    const padding = data.endsWith('==') ? 2 : data.endsWith('=') ? 1 : 0;
    const bytes = Math.floor((data.length * 3) / 4) - padding;
    return `${match[1]} ${bytes} bytes`;
  }
  try {
    return `remote image at ${new URL(url).host}`;
  } catch {
    return 'image';
  }
}

function textOf(content: ChatCompletionMessageParam['content']): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content
    .map((part) => (part.type === 'text' ? part.text : part.type === 'refusal' ? part.refusal : ''))
    .filter((text) => text.length > 0)
    .join('\n');
}

export interface InputSummary {
  /** Text of the last user message (what `sandbox/echo` answers). */
  lastUserText: string;
  /** One description per image in the last user message. */
  images: string[];
  /** Tool results that follow the last assistant message, when the conversation ends with them. */
  toolResults: string[];
}

export function summarizeInput(messages: readonly ChatCompletionMessageParam[]): InputSummary {
  const toolResults: string[] = [];
  for (let i = messages.length - 1; i >= 0 && messages[i]!.role === 'tool'; i--) {
    toolResults.unshift(textOf(messages[i]!.content));
  }
  const lastUser = [...messages].reverse().find((message) => message.role === 'user');
  const images: string[] = [];
  if (lastUser && Array.isArray(lastUser.content)) {
    for (const part of lastUser.content) if (part.type === 'image_url') images.push(describeImage(part.image_url.url));
  }
  return { lastUserText: lastUser ? textOf(lastUser.content) : '', images, toolResults };
}
