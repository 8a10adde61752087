import type { LlamaModel, Token, TokenBias } from 'node-llama-cpp';

/** An inclusive range of byte values. */
export type ByteRange = readonly [low: number, high: number];

/** What may start a character: the lead bytes of 2- to 4-byte sequences (ASCII is not a byte token's business). */
const LEADS: ByteRange = [0xc2, 0xf4];

/**
 * The high bytes (0x80–0xFF) that may come next after `tail`, the last bytes generated (oldest
 * first), for the whole to stay valid UTF-8 as RFC 3629 defines it (its table 3-7: no overlong
 * forms, no surrogates, nothing past U+10FFFF): a lead byte at a character boundary, otherwise the
 * one continuation range the character being spelled allows.
 */
export function nextHighBytes(tail: readonly number[]): ByteRange {
  // A character is at most 4 bytes: its lead, if it is still open, is among the last three.
  for (let at = tail.length - 1; at >= Math.max(0, tail.length - 3); at--) {
    const byte = tail[at]!;
    if (byte < 0x80) return LEADS;
    if (byte < 0xc0) continue; // a continuation: look further back for the lead
    const length = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : 2;
    const continued = tail.length - 1 - at;
    if (continued >= length - 1) return LEADS;
    if (continued > 0) return [0x80, 0xbf];
    if (byte === 0xe0) return [0xa0, 0xbf]; // below: overlong
    if (byte === 0xed) return [0x80, 0x9f]; // above: surrogates
    if (byte === 0xf0) return [0x90, 0xbf]; // below: overlong
    if (byte === 0xf4) return [0x80, 0x8f]; // above: past U+10FFFF
    return [0x80, 0xbf];
  }
  return LEADS;
}

/**
 * Under a grammar, the byte-fallback tokens 0x80–0xFF that would break UTF-8 are banned token by
 * token. llama.cpp's grammar reads text as code points and rejects a continuation byte without a
 * lead, but lets through overlong forms, surrogates and code points past U+10FFFF, which decode to
 * U+FFFD; a weak model picks such bytes freely (docs/engine-notes.md). Banning every high byte, as
 * before, left characters outside the vocabulary unwritable: an enum of "Zürich" in a vocabulary
 * without "ü" had no token to go on with, and the grammar sampler failed. Here a lead byte is
 * allowed at a character boundary and, inside a character, exactly its valid continuations, so any
 * valid character can be spelled and no invalid one.
 *
 * Returns the `tokenBias` option node-llama-cpp reads before each sample: the client's biases
 * (`base`) plus the bans that fit the bytes generated so far, one TokenBias per distinct range,
 * built on first use.
 */
export function utf8TokenBias(
  model: LlamaModel,
  TokenBiasClass: typeof TokenBias,
  byteTokens: ReadonlyMap<number, Token>,
  base: (bias: TokenBias) => void,
  generated: () => readonly Token[],
): () => TokenBias {
  const tokenByte = new Map<Token, number>();
  for (const [byte, token] of byteTokens) tokenByte.set(token, byte);
  const built = new Map<string, TokenBias>();
  return () => {
    const range = nextHighBytes(trailingBytes(generated(), tokenByte));
    const key = `${range[0]}-${range[1]}`;
    let bias = built.get(key);
    if (!bias) {
      bias = new TokenBiasClass(model.tokenizer);
      base(bias);
      // Set after the client's: a reply that is not UTF-8 is no reply at all.
      for (const [byte, token] of byteTokens) if (byte < range[0] || byte > range[1]) bias.set(token, 'never');
      built.set(key, bias);
    }
    return bias;
  };
}

/** The bytes of the byte tokens the generation ends with (up to three); a text token is a boundary. */
function trailingBytes(generated: readonly Token[], tokenByte: ReadonlyMap<Token, number>): number[] {
  const bytes: number[] = [];
  for (let at = generated.length - 1; at >= 0 && bytes.length < 3; at--) {
    const byte = tokenByte.get(generated[at]!);
    if (byte === undefined) break;
    bytes.unshift(byte);
  }
  return bytes;
}
