import { encode, decode } from 'gpt-tokenizer';
import type { ChatCompletionMessageParam } from 'openai/resources/chat/completions';

/**
 * Token counting with a real BPE tokenizer (o200k_base, the encoding of OpenAI's current models),
 * for backends that have no tokenizer of their own (the sandbox), and the cheap estimate that rate
 * limits reserve before a call.
 */
export function countTokens(text: string): number {
  return text.length === 0 ? 0 : encodeBounded(text).length;
}

/** Runs of this many non-space (or space) characters are encoded piece by piece. */
const RUN = 256;
const LONG_RUN = new RegExp(`\\S{${RUN}}|\\s{${RUN}}`);
const LONG_RUN_PIECES = new RegExp(`(\\S{${RUN}}|\\s{${RUN}})`);

/**
 * `encode`, safe from pathological input: BPE merges within one pre-token take time quadratic in
 * its length, and a pre-token is a whole run without spaces, so a client's 100 kB of `xxxx…` cost
 * seconds of CPU (and 4 MB, hours) on the request path. Such runs are encoded in pieces of
 * `RUN` characters: the count changes by at most a token per piece, only for text nobody writes.
 * The tokens still decode to exactly `text`.
 */
function encodeBounded(text: string): number[] {
  if (text.length < RUN || !LONG_RUN.test(text)) return encode(text);
  const tokens: number[] = [];
  for (const piece of text.split(LONG_RUN_PIECES)) if (piece) for (const token of encode(piece)) tokens.push(token);
  return tokens;
}

/** Splits text into the pieces its tokens decode to; a multibyte character is never split. */
export function splitIntoTokens(text: string): string[] {
  const pieces: string[] = [];
  let pending: number[] = [];
  for (const token of encodeBounded(text)) {
    pending.push(token);
    const piece = decode(pending);
    if (!piece.endsWith('\uFFFD')) {
      pieces.push(piece);
      pending = [];
    }
  }
  if (pending.length > 0) pieces.push(decode(pending));
  return pieces;
}

/**
 * `splitIntoTokens` remembering its last answer: the choices of one request (`n` up to 128) that
 * write the same text (the sandbox's echo) split it once, not n times. Callers must not change
 * the array it returns.
 */
export function splitIntoTokensOnce(): (text: string) => readonly string[] {
  let lastText: string | undefined;
  let lastPieces: string[] = [];
  return (text) => {
    if (text !== lastText) {
      lastPieces = splitIntoTokens(text);
      lastText = text;
    }
    return lastPieces;
  };
}

/** The first `limit` tokens of `text`, and whether it was cut. */
export function truncateToTokens(text: string, limit: number): { text: string; truncated: boolean } {
  const pieces = splitIntoTokens(text);
  if (pieces.length <= limit) return { text, truncated: false };
  return { text: pieces.slice(0, limit).join(''), truncated: true };
}

/** Tokens an image costs at low detail in OpenAI's accounting. */
const IMAGE_TOKENS = 85;

/**
 * Prompt tokens of a chat in OpenAI's way of counting: each message costs a few framing tokens
 * beyond its text, and the reply is primed with three more.
 */
export function countPromptTokens(messages: readonly ChatCompletionMessageParam[]): number {
  return promptTokens(messages, countTokens);
}

/** Bytes of UTF-8 a token holds, roughly: English prose 3.5–3.8, code 4.1–4.3 in o200k_base. */
const BYTES_PER_TOKEN = 4;

/**
 * An estimate of a text's tokens from its UTF-8 length. What rate limits reserve before a call:
 * BPE costs about 0.3 µs a character (12 ms of the event loop for a 40,000-character prompt, on
 * every request), where this is a native byte count. OpenAI's own limiter is likewise reported
 * to reckon from characters. Bytes rather than characters, so that a character of a CJK script
 * (three bytes, about a token) is not counted as a quarter of one.
 */
export function estimateTokens(text: string): number {
  return Math.ceil(Buffer.byteLength(text, 'utf8') / BYTES_PER_TOKEN);
}

/**
 * `countPromptTokens` by estimate: the same framing, each text estimated from its length. The
 * reservation is settled with the backend's real usage once the call ends.
 */
export function estimatePromptTokens(messages: readonly ChatCompletionMessageParam[]): number {
  return promptTokens(messages, estimateTokens);
}

function promptTokens(messages: readonly ChatCompletionMessageParam[], count: (text: string) => number): number {
  let total = 3;
  for (const message of messages) {
    total += 3;
    if ('name' in message && message.name) total += 1 + count(message.name);
    const content = message.content;
    if (typeof content === 'string') total += count(content);
    else if (Array.isArray(content)) {
      for (const part of content) {
        if (part.type === 'text') total += count(part.text);
        else if (part.type === 'refusal') total += count(part.refusal);
        else if (part.type === 'image_url') total += IMAGE_TOKENS;
      }
    }
    if (message.role === 'assistant' && message.tool_calls) {
      for (const call of message.tool_calls) {
        if (call.type === 'function') total += 3 + count(call.function.name) + count(call.function.arguments);
      }
    }
  }
  return total;
}
