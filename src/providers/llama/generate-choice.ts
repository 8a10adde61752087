import type { LlamaContextSequence, LlamaModel, SequenceEvaluateOptions, Token } from 'node-llama-cpp';
import type { ChatCompletionTokenLogprob } from 'openai/resources/chat/completions';
import { ClientAbortedError, SwitchyardError } from '../../errors/errors.js';
import { ReplyParser, type ReplyEvent } from './reply-parser.js';
import { EngineGenerationError, takeSamplingFailure } from './sampling-guard.js';
import { StopDetector } from './stop-detector.js';
import { reuseCachedPrefix } from './sequence-pool.js';
import { StepGate } from './step-gate.js';

export interface GenerateOptions {
  sequence: LlamaContextSequence;
  model: LlamaModel;
  promptTokens: readonly Token[];
  evaluate: SequenceEvaluateOptions;
  /** Where the generated tokens go, as they come: the penalties of `evaluate` read them. */
  generated: Token[];
  maxTokens: number;
  stops: readonly string[];
  /** Top alternatives per token, when logprobs are asked; undefined when they are not. */
  topLogprobs: number | undefined;
  startsInReasoning: boolean;
  parseToolCalls: boolean;
  /** Tool calls kept of those the model writes (1 when `parallel_tool_calls` is false); all by default. */
  maxToolCalls?: number;
  /** The output is one JSON value (a grammar holds it): generation ends as soon as the value is
   * complete, and whitespace after it is never emitted. */
  json: boolean;
  /** Raw text continuation (legacy completions): no reasoning or tool-call markup is read, every
   * token is content. */
  raw?: boolean;
  /** The context's step gate and this sequence's place in it (step-gate.ts); a private gate when omitted. */
  step?: { gate: StepGate; order: number };
  signal: AbortSignal;
}

export type GenerationEvent = ReplyEvent & { logprobs?: ChatCompletionTokenLogprob[] };

export interface GenerationEnd {
  finishReason: 'stop' | 'length';
  completionTokens: number;
  reasoningTokens: number;
  cachedTokens: number;
}

function tokenLogprob(
  model: LlamaModel,
  token: Token,
  probability: number | undefined,
  alternatives: ReadonlyArray<readonly [Token, number]>,
  previous: readonly Token[],
): ChatCompletionTokenLogprob {
  const text = model.detokenize([token], false, previous);
  return {
    token: text,
    logprob: logOf(probability),
    bytes: tokenBytes(model, token, text),
    top_logprobs: alternatives.map(([candidate, candidateProbability]) => {
      const candidateText = model.detokenize([candidate], false, previous);
      return { token: candidateText, logprob: logOf(candidateProbability), bytes: tokenBytes(model, candidate, candidateText) };
    }),
  };
}

function logOf(probability: number | undefined): number {
  return Math.log(Math.max(probability ?? 0, 1e-30));
}

/**
 * The `count` likeliest entries of a token's distribution, likeliest first, in one pass. The
 * distribution holds the whole vocabulary (150k tokens for a current model): sorting it for every
 * token cost more than generating the token.
 */
export function likeliest(probabilities: ReadonlyMap<Token, number>, count: number): Array<[Token, number]> {
  const kept: Array<[Token, number]> = [];
  if (count <= 0) return kept;
  for (const [token, probability] of probabilities) {
    if (kept.length === count && probability <= kept[count - 1]![1]) continue;
    if (kept.length < count) kept.push([token, probability]);
    else kept[count - 1] = [token, probability];
    // The newcomer moves up past the less likely; ties keep the order they came in.
    for (let at = kept.length - 1; at > 0 && kept[at - 1]![1] < kept[at]![1]; at--) {
      [kept[at - 1], kept[at]] = [kept[at]!, kept[at - 1]!];
    }
  }
  return kept;
}

/**
 * A token's UTF-8 bytes, as OpenAI's `bytes` field has them: joined over the tokens, they rebuild
 * the text. A byte-fallback token (`<0xC3>`, one byte of a character spelled over several tokens)
 * decodes alone to U+FFFD, and after the bytes before it (the `previous` tokens given to
 * `detokenize`) to '' when its character is still not whole (the middle byte of 日), so its byte is
 * read from its piece instead.
 */
function tokenBytes(model: LlamaModel, token: Token, text: string): number[] {
  if ((text === '' || text.includes('\uFFFD')) && model.getTokenAttributes(token).byte) {
    const pieces = (model.fileInfo.metadata as { tokenizer?: { ggml?: { tokens?: readonly string[] } } }).tokenizer?.ggml?.tokens;
    const byte = /^<0x([0-9A-Fa-f]{2})>$/.exec(pieces?.[token] ?? '')?.[1];
    if (byte !== undefined) return [Number.parseInt(byte, 16)];
  }
  return [...Buffer.from(text)];
}

/**
 * Generates one choice on a sequence: reuses the KV cache for the prompt prefix the sequence
 * already holds, then samples token by token, turning text into reasoning, content and tool-call
 * events, until end of generation, a stop sequence, the token limit or the client's abort.
 */
export async function* generateChoice(options: GenerateOptions): AsyncGenerator<GenerationEvent, GenerationEnd> {
  const { sequence, model, promptTokens, signal } = options;
  const keep = await reuseCachedPrefix(sequence, promptTokens);

  const stop = new StopDetector(options.stops);
  const parser = options.raw ? rawText : new ReplyParser({ startInReasoning: options.startsInReasoning, parseToolCalls: options.parseToolCalls, maxToolCalls: options.maxToolCalls });
  const generated = options.generated;
  const pendingLogprobs: ChatCompletionTokenLogprob[] = [];
  // Where each pending token's text starts in the text given to the stop detector, and how much of
  // that text it has let out: a stop sequence ends the content where it starts, and the logprobs
  // end with it. A token that begins before that point is kept, also one that runs on into the
  // stop sequence (its first characters are content: without it they would have no token, and the
  // text the tokens spell would not reach the content's end); a token that begins at the stop
  // sequence or after it gave the content nothing, and is dropped.
  const pendingStarts: number[] = [];
  let stopInput = 0;
  let stopOutput = 0;
  const stopPush = (text: string): string => {
    stopInput += text.length;
    const out = stop.push(text);
    stopOutput += out.length;
    return out;
  };
  const dropPastStop = () => {
    const past = pendingStarts.findIndex((start) => start >= stopOutput);
    if (past !== -1) {
      pendingStarts.splice(past);
      pendingLogprobs.splice(past);
    }
  };
  const utf8 = new TextDecoder('utf-8');
  let reasoningTokens = 0;
  let jsonText = '';
  let jsonEmitted = 0;
  let finishReason: GenerationEnd['finishReason'] = 'stop';
  const wantLogprobs = options.topLogprobs !== undefined;
  const textCanFinish = options.json || options.stops.length > 0;

  function* deliver(events: ReplyEvent[]): Generator<GenerationEvent> {
    for (const event of events) {
      if (event.type === 'content' && pendingLogprobs.length > 0) {
        pendingStarts.length = 0;
        yield { ...event, logprobs: pendingLogprobs.splice(0) };
      } else {
        yield event;
      }
    }
  }

  // Alternatives need the whole distribution; the sampled token's own logprob needs only its
  // probability, which the engine computes without handing over the vocabulary's.
  const wantAlternatives = (options.topLogprobs ?? 0) > 0;
  const iterator = sequence.evaluateWithMetadata(
    promptTokens.slice(keep) as Token[],
    { probabilities: wantAlternatives, confidence: wantLogprobs && !wantAlternatives },
    options.evaluate,
  );
  const { gate, order } = options.step ?? { gate: new StepGate(), order: 0 };
  // With no sibling's token in flight, the next token is asked for before this one's events are
  // delivered, so that llama.cpp evaluates it (on its own thread) while the consumer turns the
  // events into chunks and writes them. Otherwise the events are delivered first and the next token
  // is asked for with the siblings' (step-gate.ts). It is asked for only when generation goes on, so
  // the last chunk never waits for a token nobody wants.
  let pending: ReturnType<typeof iterator.next> | undefined = gate.start(iterator);
  try {
    for (;;) {
      // Set on every turn that goes on: the loop ends (break) on each path that leaves it unset.
      let result: Awaited<ReturnType<typeof iterator.next>>;
      try {
        result = await pending!;
      } catch (error) {
        pending = undefined;
        if (signal.aborted) throw new ClientAbortedError();
        if (error instanceof SwitchyardError) throw error;
        // node-llama-cpp's own error says only "Failed to sample next token"; llama.cpp's says why.
        const cause = takeSamplingFailure(sequence.context) ?? error;
        throw new EngineGenerationError(cause instanceof Error ? cause.message : String(cause), generated.length, cause);
      }
      pending = undefined;
      if (result.done) break;
      if (signal.aborted) throw new ClientAbortedError();
      const output = result.value;
      const token = output.token;
      if (model.isEogToken(token)) break;
      if (wantLogprobs) {
        const distribution = 'probabilities' in output ? (output.probabilities as ReadonlyMap<Token, number>) : undefined;
        const probability = distribution ? distribution.get(token) : 'confidence' in output ? (output.confidence as number) : undefined;
        const alternatives = distribution ? likeliest(distribution, options.topLogprobs!) : [];
        pendingLogprobs.push(tokenLogprob(model, token, probability, alternatives, generated.slice(-4)));
        pendingStarts.push(stopInput);
      }
      const before = generated.slice(-4);
      generated.push(token);
      const lengthReached = generated.length >= options.maxTokens || sequence.nextTokenIndex >= sequence.contextSize;
      // Only a stop sequence or a complete JSON value ends generation by what a token says: without
      // them the next token is asked for before this one is decoded and parsed, and the rest waits
      // for the next turn of the event loop. node-llama-cpp reaches llama.cpp's decode through a
      // chain of promises; run now, the decoding, parsing and the consumer's chunk work would land
      // between its links and hold the engine idle (~30 µs a token on the tiny model, 5%).
      if (!lengthReached && !textCanFinish && gate.idle) {
        pending = gate.next(order, iterator);
        await nextTurn();
      }
      // Text is decoded from the tokens' bytes by a streaming UTF-8 decoder: a character spelled
      // over byte tokens waits until it is whole, and a broken byte never swallows the next one.
      const piece = model.detokenize([token], false, before.length > 0 ? before : undefined);
      const text = utf8.decode(Uint8Array.from(tokenBytes(model, token, piece)), { stream: true });
      let events: ReplyEvent[] = [];
      let finished = false;
      // Counted before its text is read: a byte of a character still being spelled has no text yet,
      // and is reasoning all the same.
      if (parser.inReasoning) reasoningTokens++;
      if (text !== '') {
        if (options.json) {
          jsonText += text;
          // Whitespace waits until something follows it: trailing whitespace is dropped.
          const visible = jsonText.trimEnd();
          events = parser.push(stopPush(visible.slice(jsonEmitted)));
          jsonEmitted = visible.length;
          if (/[}\]]$/.test(visible) && isCompleteJson(visible)) finished = true;
        } else {
          events = parser.push(stopPush(text));
        }
        if (stop.stopped) {
          dropPastStop();
          finished = true;
        }
      }
      if (!finished && lengthReached) {
        finishReason = 'length';
        finished = true;
      }
      if (!finished && !pending && gate.idle) pending = gate.next(order, iterator);
      yield* deliver(events);
      if (finished) break;
      if (!pending) {
        if (signal.aborted) throw new ClientAbortedError();
        pending = gate.after(order, iterator);
      }
    }
  } finally {
    // A token asked for ahead (the consumer stopped early) is let finish before the sequence is released.
    if (pending) await pending.catch(() => undefined);
    await iterator.return(undefined);
  }
  if (signal.aborted) throw new ClientAbortedError();
  const rest = utf8.decode();
  if (rest && !options.json) {
    const text = stopPush(rest);
    if (stop.stopped) dropPastStop();
    yield* deliver(parser.push(text));
  }
  yield* deliver(parser.push(stop.flush()));
  yield* deliver(parser.end());
  if (pendingLogprobs.length > 0) yield { type: 'content', text: '', logprobs: pendingLogprobs.splice(0) };
  return { finishReason, completionTokens: generated.length, reasoningTokens, cachedTokens: keep };
}

function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** The parser of raw text: all of it is content, as it comes. */
const rawText: Pick<ReplyParser, 'push' | 'end' | 'inReasoning'> = {
  inReasoning: false,
  push: (text) => (text ? [{ type: 'content', text }] : []),
  end: () => [],
};

function isCompleteJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}
