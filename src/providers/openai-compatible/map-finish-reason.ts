/**
 * Finish reasons of other servers in OpenAI's words: TGI's `eos_token` and `stop_sequence` (before
 * its 2.2, huggingface/text-generation-inference#2344), `eos` of other llama.cpp front ends.
 * Strictly typed clients (Rust's async-openai, the AI SDK's schemas) refuse anything else.
 */
const FINISH_REASONS: ReadonlyMap<string, string> = new Map([
  ['eos_token', 'stop'],
  ['eos', 'stop'],
  ['stop_sequence', 'stop'],
  ['end_turn', 'stop'],
  ['max_tokens', 'length'],
]);

/** OpenAI's word for an upstream's finish reason, or undefined when it already is one (or unknown). */
export function mapFinishReason(reason: string): string | undefined {
  // A Map, not an object: a reason named like an Object.prototype key ("constructor") maps to nothing.
  return FINISH_REASONS.get(reason);
}

/** Puts a whole reply's finish reasons in OpenAI's words; true when any changed (its text is then stale). */
export function mapReplyFinishReasons(choices: ReadonlyArray<{ finish_reason?: string | null }>): boolean {
  let changed = false;
  for (const choice of choices) {
    const mapped = typeof choice.finish_reason === 'string' ? mapFinishReason(choice.finish_reason) : undefined;
    if (mapped !== undefined) {
      choice.finish_reason = mapped;
      changed = true;
    }
  }
  return changed;
}
