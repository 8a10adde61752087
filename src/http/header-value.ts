/**
 * A value for a response header from text a client may have chosen (a model name routed to a
 * provider that takes any model: `x-switchyard-route`). Node refuses header characters beyond
 * Latin-1 with a throw (a 500 outside OpenAI's shape, or a stream that never starts and never
 * ends) and writes Latin-1 as mojibake; anything beyond printable ASCII is percent-encoded.
 */
export function headerValue(text: string): string {
  return /[^\x20-\x7e]/.test(text) ? text.replace(/[^\x20-\x7e]/gu, encodeCharacter) : text;
}

function encodeCharacter(character: string): string {
  try {
    return encodeURIComponent(character);
  } catch {
    // A lone surrogate (JSON can spell one) has no UTF-8: the replacement character stands in.
    return '%EF%BF%BD';
  }
}
