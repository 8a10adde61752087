import type { LlamaContext } from 'node-llama-cpp';
import { SwitchyardError } from '../../errors/errors.js';

type SampleToken = (...args: unknown[]) => Promise<unknown>;

/** The last native sampling failure of each context, until the generation it ended reads it. */
const failures = new WeakMap<LlamaContext, Error>();

/**
 * Makes a failed token sample end its own generation instead of the process.
 *
 * node-llama-cpp samples each token inside its batch dispatch (`LlamaContext.dispatchPendingBatch`),
 * which it starts with `void` and never catches: when llama.cpp's sampler throws (its grammar
 * sampler does when no token the grammar allows is left, e.g. a `logit_bias` that bans them all:
 * "Unexpected empty grammar stack after accepting piece") the rejection escapes unhandled, Node
 * ends the process, and the sequence's evaluation would never settle anyway. The context's native
 * `sampleToken` is wrapped so that a failure resolves as "no token" (-1), which node-llama-cpp's
 * evaluate loop already turns into an ordinary error of that one evaluation ("Failed to sample next
 * token"); the native error is kept here for the generation to report (`takeSamplingFailure`).
 * A node-llama-cpp that no longer has the method where this expects it fails the load (and a test).
 */
export function guardSampling(context: LlamaContext): void {
  const native = (context as unknown as { _ctx?: { sampleToken?: SampleToken } })._ctx;
  const sample = native?.sampleToken;
  if (!native || typeof sample !== 'function') {
    throw new Error('node-llama-cpp moved LlamaContext._ctx.sampleToken: sampling failures could not be contained');
  }
  const failed = (error: unknown) => {
    failures.set(context, error instanceof Error ? error : new Error(String(error)));
    return -1;
  };
  // The addon's method is a read-only property of its prototype: shadowed on the instance.
  Object.defineProperty(native, 'sampleToken', {
    configurable: true,
    value: function guardedSampleToken(this: unknown, ...args: unknown[]) {
      try {
        return sample.apply(this, args).catch(failed);
      } catch (error) {
        return Promise.resolve(failed(error));
      }
    },
  });
}

/** The native error behind the last failed sample on `context` (and forgets it). */
export function takeSamplingFailure(context: LlamaContext): Error | undefined {
  const failure = failures.get(context);
  failures.delete(context);
  return failure;
}

/**
 * The engine failed while generating (a sample or a decode): a 500 that names nothing internal to
 * the client; `cause` and `engineMessage` (llama.cpp's own words) go to the log.
 */
export class EngineGenerationError extends SwitchyardError {
  constructor(
    readonly engineMessage: string,
    /** Tokens generated before the failure. */
    readonly generatedTokens: number,
    cause: unknown,
  ) {
    super('server_error', 'The local engine failed while generating this reply.', { cause });
    this.name = 'EngineGenerationError';
  }

  /** llama.cpp's grammar sampler found no allowed token to go on with. */
  get grammarDeadEnd(): boolean {
    return /grammar/i.test(this.engineMessage);
  }
}
