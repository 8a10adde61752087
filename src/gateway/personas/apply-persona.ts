import type { ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import type { ChatRequest } from '../../providers/provider.js';
import type { Persona } from './persona.js';

const OUTPUT_LIMIT: readonly string[] = ['max_tokens', 'max_completion_tokens'];

export interface PersonaApplied {
  request: ChatRequest;
  /** What shaped the call, for `x-switchyard-layers`: `persona-prompt`, `locked:<param>`... */
  layers: string[];
}

/**
 * A client's request as the persona shapes it: the persona's system prompt first, the client's
 * system and developer messages after it (they refine, they do not replace), the rest as sent.
 * Parameters: the persona's defaults where the client set none; a locked one is the persona's
 * whatever the client sent. Tools, streaming and everything else pass through unchanged.
 */
export function applyPersona(request: ChatRequest, persona: Persona, extraInstruction?: string): PersonaApplied {
  const layers = ['persona-prompt'];
  const examples = persona.style_examples.length > 0 ? `\n\nExamples of the style to reply in:\n${persona.style_examples.map((example) => `- ${example}`).join('\n')}` : '';
  const system = `${persona.system_prompt}${examples}${extraInstruction ? `\n\n${extraInstruction}` : ''}`;
  const messages: ChatCompletionMessageParam[] = [{ role: 'system', content: system }, ...request.messages];
  const shaped: Record<string, unknown> = { ...request, model: persona.base_model, messages };
  for (const [name, value] of Object.entries(persona.parameters)) {
    const locked = persona.locked_parameters.includes(name as never);
    // `max_tokens` and `max_completion_tokens` are one limit under two names: a locked one is not
    // escaped by sending the other, and a default applies only when the client set neither.
    const names = OUTPUT_LIMIT.includes(name) ? OUTPUT_LIMIT : [name];
    if (locked) {
      for (const other of names) delete shaped[other];
      shaped[name] = value;
      layers.push(`locked:${name}`);
    } else if (names.every((other) => shaped[other] === undefined || shaped[other] === null)) {
      shaped[name] = value;
    }
  }
  return { request: shaped as unknown as ChatRequest, layers };
}

/** The instruction added when a drifting reply is regenerated. */
export function reinforcement(persona: Persona, reasons: readonly string[]): string {
  return `Your previous reply drifted from this persona (${reasons.join('; ')}). Stay strictly in character as ${persona.name}, follow the instructions above exactly, and keep to the style of the examples you were given.`;
}
