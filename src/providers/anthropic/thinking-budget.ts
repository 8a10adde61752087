import type { ChatRequest } from '../provider.js';

/**
 * `reasoning_effort` (or `reasoning.effort`) as an extended-thinking budget in tokens. Anthropic
 * takes a budget, not a level (https://docs.anthropic.com/en/docs/build-with-claude/extended-thinking),
 * and requires at least 1024.
 *
 * | effort  | budget_tokens |
 * | ------- | ------------- |
 * | minimal | 1024          |
 * | low     | 2048          |
 * | medium  | 8192          |
 * | high    | 16384         |
 * | xhigh   | 32768         |
 * | max     | 65536         |
 *
 * `reasoning: true` is `medium`; `reasoning.max_tokens` is taken as the budget itself;
 * `none` (or `reasoning: false`) leaves thinking off.
 */
export const THINKING_BUDGETS = {
  minimal: 1024,
  low: 2048,
  medium: 8192,
  high: 16_384,
  xhigh: 32_768,
  max: 65_536,
} as const;

export const MIN_THINKING_BUDGET = 1024;

/** The budget the request asks for, or `undefined` when it asks for no thinking. */
export function thinkingBudget(request: ChatRequest): number | undefined {
  const reasoning = request.reasoning;
  const options = typeof reasoning === 'object' && reasoning !== null ? reasoning : undefined;
  if (reasoning === false || options?.enabled === false) return undefined;
  const effort = options?.effort ?? request.reasoning_effort ?? undefined;
  if (effort === 'none') return undefined;
  if (options?.max_tokens !== undefined) return Math.max(MIN_THINKING_BUDGET, options.max_tokens);
  if (effort !== undefined && effort in THINKING_BUDGETS) return THINKING_BUDGETS[effort as keyof typeof THINKING_BUDGETS];
  if (reasoning === true || options !== undefined) return THINKING_BUDGETS.medium;
  return undefined;
}
