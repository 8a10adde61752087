import { SwitchyardError, UnsupportedFeatureError } from '../../errors/errors.js';
import type { ChatRequest } from '../provider.js';

/** Features an upstream may lack, each with the request field that asks for it. */
export const FEATURES = {
  tools: { param: 'tools', used: (request: ChatRequest) => (request.tools?.length ?? 0) > 0, words: /\btools?\b|function[ _]call/i },
  response_format: { param: 'response_format', used: (request: ChatRequest) => request.response_format != null && request.response_format.type !== 'text', words: /response_format|json_schema|json[ _]object|structured output/i },
  images: { param: 'messages', used: hasImages, words: /image|vision|multimodal/i },
  logprobs: { param: 'logprobs', used: (request: ChatRequest) => request.logprobs === true, words: /logprobs/i },
  reasoning_effort: { param: 'reasoning_effort', used: (request: ChatRequest) => request.reasoning_effort != null, words: /reasoning/i },
} as const;
export type Feature = keyof typeof FEATURES;

function hasImages(request: ChatRequest): boolean {
  return request.messages.some((message) => Array.isArray(message.content) && (message.content as Array<{ type?: string }>).some((part) => part.type === 'image_url'));
}

/** Words upstreams use when they refuse a feature rather than a value (vLLM, Ollama, llama-server, OpenAI). */
const UNSUPPORTED = /not supported|unsupported|does not support|doesn't support|not available for this model|is not enabled/i;

/** How long a learned gap is trusted before the upstream is asked again (it may have been upgraded). */
const LEARNED_FOR_MS = 60 * 60_000;

/** A target that cannot serve a feature of the request: a 400, and a reason to try an alias's next target. */
export class CapabilityError extends UnsupportedFeatureError {}

/**
 * What an OpenAI-compatible upstream has shown it cannot do, per model: seeded from config
 * (`unsupported: [tools, …]`) and learned from its 400s that refuse a feature, so the next request
 * using that feature is refused before the network with a clear 400 (or goes to an alias's next
 * target) instead of another confusing upstream error. Empty, it costs one size check per request.
 */
export class CapabilityMemory {
  private readonly learned = new Map<string, Map<Feature, number>>();

  constructor(
    private readonly providerId: string,
    private readonly configured: ReadonlySet<Feature>,
    private readonly now: () => number = Date.now,
  ) {}

  /** Throws a `CapabilityError` when the request uses a feature this upstream model is known to lack. */
  check(model: string, request: ChatRequest): void {
    if (this.configured.size === 0 && this.learned.size === 0) return;
    const learned = this.learned.get(model);
    for (const feature of Object.keys(FEATURES) as Feature[]) {
      const until = learned?.get(feature);
      const known = this.configured.has(feature) || (until !== undefined && until > this.now());
      if (known && FEATURES[feature].used(request)) {
        throw new CapabilityError(
          `The upstream provider '${this.providerId}' does not support ${feature.replace('_', ' ')} for the model '${model}'${this.configured.has(feature) ? ' (per its configuration)' : ' (it refused it earlier)'}: send the request without '${FEATURES[feature].param}', or use another model.`,
          FEATURES[feature].param,
        );
      }
    }
  }

  /**
   * Reads an upstream's 4xx: when it refuses a feature the request used (its message says
   * "unsupported" or alike, and its `param` or message names the feature), the gap is remembered
   * and a `CapabilityError` returned in its place; otherwise undefined (a plain bad request, learned from nothing).
   */
  learn(model: string, request: ChatRequest, error: SwitchyardError): CapabilityError | undefined {
    if (error.status !== 400 && error.status !== 422 && error.status !== 501) return undefined;
    if (!UNSUPPORTED.test(error.message)) return undefined;
    for (const feature of Object.keys(FEATURES) as Feature[]) {
      const { param, used, words } = FEATURES[feature];
      if (!used(request)) continue;
      if (error.param === param || error.param?.startsWith(`${param}.`) || error.param?.startsWith(`${param}[`) || words.test(error.message)) {
        let gaps = this.learned.get(model);
        if (!gaps) this.learned.set(model, (gaps = new Map()));
        gaps.set(feature, this.now() + LEARNED_FOR_MS);
        return new CapabilityError(`The upstream provider '${this.providerId}' does not support ${feature.replace('_', ' ')} for the model '${model}': ${error.message}`, param);
      }
    }
    return undefined;
  }
}
