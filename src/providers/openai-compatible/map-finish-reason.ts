/**
 * Finish reasons of other servers in OpenAI's words: TGI's `eos_token` and `stop_sequence` (before
 * its 2.2, huggingface/text-generation-inference#2344), `eos` of other llama.cpp front ends.
 * Strictly typed clients (Rust's async-openai, the AI SDK's schemas) refuse anything else.
 */
const FINISH_REASONS: Readonly<Record<string, string>> = { eos_token: 'stop', eos: 'stop', stop_sequence: 'stop', end_turn: 'stop', max_tokens: 'length' };

/** OpenAI's word for an upstream's finish reason, or undefined when it already is one (or unknown). */
export function mapFinishReason(reason: string): string | undefined {
  return FINISH_REASONS[reason];
}

/** Puts a whole reply's finish reasons in OpenAI's words; true when any changed (its text is then stale). */
export function mapReplyFinishReasons(choices: ReadonlyArray<{ finish_reason?: string | null }>): boolean {
  let changed = false;
  for (const choice of choices) {
    const mapped = typeof choice.finish_reason === 'string' ? FINISH_REASONS[choice.finish_reason] : undefined;
    if (mapped !== undefined) {
      choice.finish_reason = mapped;
      changed = true;
    }
  }
  return changed;
}
