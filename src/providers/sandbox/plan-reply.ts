import { generateSync } from 'json-schema-faker';
import type { ChatCompletionFunctionTool } from 'openai/resources/chat/completions';
import type { ChatRequest } from '../provider.js';
import { allowedTools } from '../../chat/allowed-tools.js';
import { stopSequences } from '../../chat/stop-sequences.js';
import { ValidationError } from '../../errors/errors.js';
import { splitIntoTokens, splitIntoTokensOnce } from '../../chat/token-count.js';
import { createRandom } from './prng.js';
import { InstanceBudget, RANDOM_ITEMS_CAP } from './schema-budget.js';
import { summarizeInput } from './describe-input.js';

export type SandboxModel = 'echo' | 'lorem';
export const SANDBOX_MODELS: readonly SandboxModel[] = ['echo', 'lorem'];

export interface PlannedToolCall {
  name: string;
  arguments: string;
}

/** One choice of a sandbox reply, already cut by stop sequences and the token limit. */
export interface PlannedChoice {
  reasoning: string[];
  content: readonly string[] | null;
  toolCalls: PlannedToolCall[];
  finishReason: 'stop' | 'length' | 'tool_calls';
}

const LOREM = (
  'lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore et ' +
  'dolore magna aliqua ut enim ad minim veniam quis nostrud exercitation ullamco laboris nisi ut aliquip ex ' +
  'ea commodo consequat duis aute irure dolor in reprehenderit in voluptate velit esse cillum dolore eu ' +
  'fugiat nulla pariatur excepteur sint occaecat cupidatat non proident sunt in culpa qui officia deserunt'
).split(' ');

function lorem(random: () => number): string {
  const words = 24 + Math.floor(random() * 40);
  const out: string[] = [];
  for (let i = 0; i < words; i++) out.push(LOREM[Math.floor(random() * LOREM.length)]!);
  const text = out.join(' ');
  return `${text.charAt(0).toUpperCase()}${text.slice(1)}.`;
}

/** Whether the request asked to see reasoning (the `reasoning` extension or a reasoning effort). */
export function wantsReasoning(request: ChatRequest): boolean {
  const reasoning = request.reasoning;
  if (reasoning === true) return true;
  if (reasoning && typeof reasoning === 'object') return reasoning.enabled !== false && reasoning.exclude !== true;
  return request.reasoning_effort != null && request.reasoning_effort !== 'none';
}

function functionTools(request: ChatRequest): ChatCompletionFunctionTool[] {
  return (request.tools ?? []).filter((tool): tool is ChatCompletionFunctionTool => tool.type === 'function');
}

/** Which tools to call: named or required always call; auto calls the tools the user names. */
function chooseTools(request: ChatRequest, lastUserText: string, afterToolResults: boolean): ChatCompletionFunctionTool[] {
  let tools = functionTools(request);
  let choice = request.tool_choice;
  // Only the listed tools may be called; `mode` is what `tool_choice` would have said.
  const allowed = allowedTools(choice, new Set(tools.map((tool) => tool.function.name)));
  if (allowed) {
    tools = tools.filter((tool) => allowed.names.has(tool.function.name));
    choice = allowed.mode;
  }
  if (tools.length === 0 || choice === 'none') return [];
  if (choice && typeof choice === 'object' && choice.type === 'function') {
    const named = choice.function.name;
    return tools.filter((tool) => tool.function.name === named);
  }
  const mentioned = afterToolResults ? [] : tools.filter((tool) => lastUserText.includes(tool.function.name));
  const picked = mentioned.length > 0 || choice !== 'required' ? mentioned : [tools[0]!];
  return request.parallel_tool_calls === false ? picked.slice(0, 1) : picked;
}

/** An instance of a JSON schema; a schema no instance can be made of is the request's fault (400). */
function schemaInstance(schema: Record<string, unknown> | undefined, seed: number, param: string, schemas: InstanceBudget): string {
  schemas.spend(schema, param);
  let value: unknown;
  try {
    // Random extra items stay few: the budget counts what the schema demands, not what chance adds
    // (a `maxLength` cap here would cut strings below their `minLength`; `maxItems` never goes under `minItems`).
    value = generateSync((schema ?? { type: 'object' }) as never, { seed, alwaysFakeOptionals: false, maxItems: RANDOM_ITEMS_CAP } as never);
  } catch (error) {
    throw new ValidationError(`Invalid schema for '${param}': ${(error as Error).message}`, param);
  }
  if (value === undefined) throw new ValidationError(`Invalid schema for '${param}': no value satisfies it.`, param);
  return JSON.stringify(value);
}

function replyText(model: SandboxModel, request: ChatRequest, random: () => number, seed: number, schemas: InstanceBudget): string {
  const input = summarizeInput(request.messages);
  const format = request.response_format;
  if (format?.type === 'json_schema') return schemaInstance(format.json_schema.schema, seed, 'response_format.json_schema.schema', schemas);
  if (input.toolResults.length > 0) return `Tool results: ${input.toolResults.join(' | ')}`;
  let text = model === 'lorem' ? lorem(random) : input.lastUserText;
  if (input.images.length > 0) {
    text += `${text ? '\n' : ''}[${input.images.length} image${input.images.length === 1 ? '' : 's'}: ${input.images.join('; ')}]`;
  }
  if (format?.type === 'json_object') return JSON.stringify({ reply: text });
  return text;
}

/** Cuts text at the first stop sequence, which is never emitted. */
function applyStop(text: string, stops: readonly string[]): { text: string; stopped: boolean } {
  let cut = -1;
  for (const stop of stops) {
    const at = text.indexOf(stop);
    if (at !== -1 && (cut === -1 || at < cut)) cut = at;
  }
  return cut === -1 ? { text, stopped: false } : { text: text.slice(0, cut), stopped: true };
}

/**
 * Decides, deterministically from the seed (or the request itself), what choice `index` says:
 * its reasoning, its text or tool calls, and why it finished.
 */
export function planChoice(
  model: SandboxModel,
  request: ChatRequest,
  seed: number,
  index: number,
  defaultLimit: number,
  /** What the request's schema instances may cost, shared by all its choices. */
  schemas: InstanceBudget = new InstanceBudget(),
  /** Shared by the request's choices too: the same text is split once. */
  split: (text: string) => readonly string[] = splitIntoTokensOnce(),
): PlannedChoice {
  const choiceSeed = (seed + index * 7919) >>> 0;
  const random = createRandom(choiceSeed);
  const input = summarizeInput(request.messages);
  const limit = request.max_completion_tokens ?? request.max_tokens ?? defaultLimit;
  const stops = stopSequences(request.stop);
  let budget = limit;

  const reasoning = wantsReasoning(request)
    ? splitIntoTokens(
        `The user wrote ${input.lastUserText.length} characters${input.images.length ? ` and ${input.images.length} image(s)` : ''}. ` +
          `I will answer as the ${model} model.`,
      )
    : [];
  if (reasoning.length >= budget) return { reasoning: reasoning.slice(0, budget), content: null, toolCalls: [], finishReason: 'length' };
  budget -= reasoning.length;

  const tools = chooseTools(request, input.lastUserText, input.toolResults.length > 0);
  if (tools.length > 0) {
    const toolCalls = tools.map((tool, callIndex) => ({
      name: tool.function.name,
      arguments: schemaInstance(
        tool.function.parameters as Record<string, unknown> | undefined,
        choiceSeed + callIndex,
        `tools[${(request.tools ?? []).indexOf(tool)}].function.parameters`,
        schemas,
      ),
    }));
    const used = toolCalls.reduce((sum, call) => sum + splitIntoTokens(call.arguments).length + 1, 0);
    return { reasoning, content: null, toolCalls, finishReason: used > budget ? 'length' : 'tool_calls' };
  }

  const stopped = applyStop(replyText(model, request, random, choiceSeed, schemas), stops);
  const tokens = split(stopped.text);
  if (tokens.length > budget) return { reasoning, content: tokens.slice(0, budget), toolCalls: [], finishReason: 'length' };
  return { reasoning, content: tokens, toolCalls: [], finishReason: 'stop' };
}
