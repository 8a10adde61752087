/**
 * A request's `stop` (a string, up to four, or none) as the list of stop sequences to watch for.
 * An empty string is no stop sequence: OpenAI's spec sets no minimum length on them, and every text
 * "contains" the empty string, so watching for it ended every reply before its first character.
 * It is left out, so `stop: ""` stops nothing (vLLM refuses it with a 400 instead; OpenAI is the
 * reference here).
 */
export function stopSequences(stop: string | readonly string[] | null | undefined): string[] {
  if (stop == null) return [];
  return (typeof stop === 'string' ? [stop] : [...stop]).filter((sequence) => sequence !== '');
}
