import type { ChatCompletion } from 'openai/resources/chat/completions';
import type { Completion, CompletionUsage } from 'openai/resources/completions';
import { ClientAbortedError, SwitchyardError, UnsupportedFeatureError, UpstreamError, ValidationError, toSwitchyardError } from '../errors/errors.js';
import { aggregateChunks } from '../chat/aggregate-chunks.js';
import {
  OUTPUT_LIMIT_DEFAULTED,
  RAW_JSON,
  type ChatRequest,
  type CompletionRequest,
  type EmbeddingsRequest,
  type EmbeddingsResult,
  type Provider,
  type RelayChunk,
  type TextCompletionChunk,
  type UnreadChunk,
} from '../providers/provider.js';
import { aggregateCompletionChunks } from '../completions/aggregate-completion-chunks.js';
import type { ModelRegistry, ResolvedModel } from './model-registry.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { RoutingSchema, type AliasConfig, type RoutingConfig } from '../config/routing-schema.js';
import { CircuitBreakers, type BreakerState } from './circuit-breaker.js';
import { prepareImages, type ImageRules } from './images/prepare-images.js';
import { PERSONA_PREFIX, type Persona } from './personas/persona.js';
import type { PersonaCatalog } from './personas/persona-catalog.js';
import { applyPersona, reinforcement } from './personas/apply-persona.js';
import type { DriftJudge, DriftVerdict } from './drift/drift-judge.js';
import { defaultAliases, RoutePlanner, type AliasRoute, type PlannedTarget, type RoutePlan } from './route-planner.js';

/** Who is calling. The platform's key store fills in more; the core needs only an identity. */
export interface Caller {
  keyId: string | null;
  /** The key's workspace, for keys of the platform's store. */
  workspaceId?: string | undefined;
  /** Every call is served by the sandbox provider, whatever the model asked (`sk_test_` keys). */
  sandboxed?: boolean | undefined;
}

/** What the gateway learned of one call once it ended; the platform's accounting reads this. */
export interface CallSummary {
  requestId: string;
  /** The id of the call's usage record (`x-switchyard-audit-id`), when the caller gave one. */
  auditId: string | undefined;
  caller: Caller;
  modelAsked: string;
  /** The chain taken, as `x-switchyard-route` shows it (`alias:fast > openai/gpt-4o`). */
  route: string;
  /** The model that answered, by its public id (`openai/gpt-4o`): what prices are keyed by. */
  target?: string | undefined;
  providerId: string;
  stream: boolean;
  usage: CompletionUsage | undefined;
  /** Chunks relayed so far (streams): what a call cut before its usage is charged by. */
  streamedChunks?: number;
  /** Milliseconds from the call to its first chunk (streams), or to the whole reply. */
  timeToFirstChunkMs: number | undefined;
  durationMs: number;
  status: 'completed' | 'failed' | 'aborted';
  error: SwitchyardError | undefined;
  /**
   * Milliseconds spent waiting on backends before the first chunk (or the whole reply): every
   * attempt's provider call, and the backoff between attempts. Metrics subtract it from the time
   * in hand to get Switchyard's own overhead.
   */
  upstreamMs?: number;
  /**
   * Switchyard's own time before the first chunk was in hand, backends excluded: from the request's
   * arrival (`CallOptions.receivedAt`, else the gateway's start) minus `upstreamMs`.
   */
  overheadMs?: number;
  /** What kind of call: chat (and Responses, Realtime), a legacy completion, embeddings. */
  kind?: 'chat' | 'completion' | 'embeddings';
  /** When the call started (`performance.now()` time). */
  startedAt?: number;
  /** With `detailedSummaries` (tracing on): every attempt, the sampling asked, what answered. */
  attempts?: Array<{ target: string; startedAt: number; endedAt?: number | undefined; errorCode?: string | undefined }>;
  request?: { maxTokens?: number | undefined; temperature?: number | undefined; topP?: number | undefined };
  response?: { model?: string | undefined; id?: string | undefined; finishReasons?: string[] | undefined };
  /** Persona calls: the reply's drift, the layers that shaped it, and the recovery that ran. */
  drift?: { score: number; alert: boolean; layers: string[]; recovery: string | undefined } | undefined;
}

export interface CallOptions {
  requestId: string;
  auditId?: string | undefined;
  caller: Caller;
  signal: AbortSignal;
  /** When the request arrived (`performance.now()` time), for the overhead metric. */
  receivedAt?: number | undefined;
  /**
   * The caller writes a stream's chunks as their JSON text and reads nothing else of them: its
   * stream may then carry unread events (see `UnreadChunk`). Persona streams are read regardless.
   */
  relayOnly?: boolean;
}

interface ReplyBase {
  /** The chain taken, for `x-switchyard-route`. */
  route: string;
  resolved: ResolvedModel;
  /** Persona calls: what their drift headers show (non-streaming replies; streams carry `trailer`). */
  persona?: { drift: DriftVerdict; layers: string[]; recovery: string | undefined } | undefined;
}
export interface StreamReply<Chunk = RelayChunk> extends ReplyBase {
  kind: 'stream';
  /** Starts with a chunk already received: a failure before it rejected `chat()` instead. */
  chunks: AsyncIterable<Chunk>;
  /** An SSE comment to write after the last chunk (a persona stream's drift score), read once the chunks are done. */
  trailer?: () => string | undefined;
}
export interface CompletionReply extends ReplyBase {
  kind: 'completion';
  completion: ChatCompletion;
  /** The upstream's exact body when it was relayed unchanged. */
  rawJson: string | undefined;
  /**
   * A persona reply whose recovery is to run: its call's record waits for it, and this ends the
   * call with the recovery noted (what ran, or that it failed), so its audit record tells.
   */
  endWithRecovery?: (recovery: string | undefined) => Promise<void> | void;
}

/** A legacy completions call's answer: a stream whose first event is in hand, or the whole object. */
export type TextCompletionReply = ReplyBase &
  (
    | { kind: 'stream'; chunks: AsyncIterable<TextCompletionChunk> }
    | { kind: 'completion'; completion: Completion; /** The upstream's exact body when relayed unchanged. */ rawJson: string | undefined }
  );

export interface GatewayOptions {
  registry: ModelRegistry;
  /** Model aliases; `fast`, `balanced` and `smart` get defaults when absent. */
  aliases?: Record<string, AliasConfig>;
  routing?: RoutingConfig;
  /** Draws for weighted aliases; tests pass their own. */
  random?: () => number;
  /**
   * Called once per call after it ends, off the response path. A promise it returns (the usage
   * record made durable) is awaited before the call's answer completes.
   */
  onCallEnd?: (summary: CallSummary) => Promise<void> | void;
  now?: () => number;
  /** Rules for image inputs; defaults: 20 MB, no downloads. */
  images?: ImageRules;
  /** Record attempts, sampling and response details on summaries (for tracing); off, none of it is paid for. */
  detailedSummaries?: boolean;
  /** Personas (`persona://<id>`) and the judge of their replies' drift; without them such names are unknown models. */
  personas?: { catalog: PersonaCatalog; judge: DriftJudge };
}

/** How a persona call shapes the one chat path: names in the summary and route, and the reply's judge. */
interface PersonaCall {
  persona: Persona;
  modelAsked: string;
  layers: string[];
  recovery: string | undefined;
}

/**
 * A persona's recovery call runs under the audit id of the call it recovers plus this: its own
 * usage record, inside the request that was admitted (the platform charges its tokens to it).
 */
export const RECOVERY_AUDIT_SUFFIX = '_recovery';

const DEFAULT_IMAGE_RULES: ImageRules = { maxBytes: 20 * 1024 * 1024, fetchRemote: false, timeoutMs: 10_000, allowPrivateHosts: new Set() };

/**
 * The core of a call, knowing nothing of HTTP: resolve the model, check what only the model can
 * judge, call the provider, and hand back a stream whose first chunk is already in hand (or the
 * collected completion). Everything a call costs is reported to `onCallEnd` when it ends.
 */
export class Gateway {
  private readonly registry: ModelRegistry;
  private readonly onCallEnd: GatewayOptions['onCallEnd'];
  private readonly now: () => number;
  private readonly planner: RoutePlanner;
  private readonly breakers: CircuitBreakers;
  private readonly routing: RoutingConfig;
  private readonly imageRules: ImageRules;
  private readonly personas: GatewayOptions['personas'];
  private readonly detailed: boolean;

  constructor(options: GatewayOptions) {
    this.detailed = options.detailedSummaries === true;
    this.personas = options.personas;
    this.imageRules = options.images ?? DEFAULT_IMAGE_RULES;
    this.registry = options.registry;
    this.onCallEnd = options.onCallEnd;
    this.now = options.now ?? performance.now.bind(performance);
    this.routing = options.routing ?? RoutingSchema.parse({});
    this.planner = new RoutePlanner(options.registry, { ...defaultAliases(options.registry), ...options.aliases }, options.random);
    this.breakers = new CircuitBreakers(this.routing.breakerFailures, this.routing.breakerCooldownMs);
  }

  resolveModel(name: string, caller?: Caller): ResolvedModel {
    const resolved = caller?.sandboxed ? this.registry.resolveSandboxed(name) : this.registry.resolve(name);
    if (!resolved) {
      throw new SwitchyardError('model_not_found', `The model \`${name}\` does not exist or you do not have access to it.`, {
        param: 'model',
      });
    }
    return resolved;
  }

  chat(request: ChatRequest, options: CallOptions & { relayOnly: true }): Promise<StreamReply<RelayChunk | UnreadChunk> | CompletionReply>;
  chat(request: ChatRequest, options: CallOptions & { relayOnly?: false }): Promise<StreamReply | CompletionReply>;
  async chat(request: ChatRequest, options: CallOptions): Promise<StreamReply<RelayChunk | UnreadChunk> | CompletionReply> {
    if (this.personas && request.model.startsWith(PERSONA_PREFIX)) return this.personaChat(request, options);
    return this.chatOnce(request, options, undefined);
  }

  /**
   * The plan of a Responses API call when it can be passed through: every target's backend serves
   * the Responses API itself (a plan that mixes in other backends is translated, so that its
   * fallbacks still work). Undefined otherwise.
   */
  nativeResponsesPlan(model: string, caller: Caller): RoutePlan | undefined {
    if (model.startsWith(PERSONA_PREFIX)) return undefined;
    const plan = this.planner.plan(model, caller);
    return plan.targets.every((target) => target.resolved.provider.nativeResponses === true) ? plan : undefined;
  }

  /**
   * A Responses API call passed through to backends that serve it: the same targets, retries,
   * fallbacks and first-byte contract as chat; the caller relays the answer and calls `end` with
   * the usage it read from it (or the error that cut it), which reports the call like any other.
   */
  async passThroughResponses<T>(
    plan: RoutePlan,
    model: string,
    stream: boolean,
    options: CallOptions,
    call: (resolved: ResolvedModel, signal: AbortSignal) => Promise<T>,
  ): Promise<{ value: T; route: string; resolved: ResolvedModel; end: (usage?: CompletionUsage, error?: unknown) => void }> {
    const started = this.now();
    const summary = newSummary(options, model, stream);
    try {
      const deadline = stream ? firstChunkDeadline : wholeReplyDeadline;
      const outcome = await this.attempt(plan, summary, options.signal, deadline, (target, signal) => call(target.resolved, signal));
      summary.timeToFirstChunkMs = this.now() - started;
      summary.overheadMs = overhead(started, options.receivedAt, summary);
      let ended = false;
      const end = async (usage?: CompletionUsage, error?: unknown) => {
        if (ended) return;
        ended = true;
        summary.usage = usage;
        await this.endCall(summary, started, options.signal, error);
      };
      return { value: outcome.value, route: summary.route, resolved: outcome.target.resolved, end };
    } catch (error) {
      await this.endCall(summary, started, options.signal, error);
      throw toSwitchyardError(error);
    }
  }

  /** The persona catalog, for the admin API. */
  personaCatalog(): PersonaCatalog | undefined {
    return this.personas?.catalog;
  }

  /**
   * A persona call: the persona shapes the request, its base model routes it (aliases and
   * fallbacks apply), and the reply is judged for drift. A non-streaming reply above the threshold
   * runs the persona's recovery before it ships: one regeneration with a reinforced prompt, or the
   * fallback model; the reply that drifted least ships. Each call is accounted on its own.
   */
  private async personaChat(request: ChatRequest, options: CallOptions): Promise<StreamReply<RelayChunk | UnreadChunk> | CompletionReply> {
    const id = request.model.slice(PERSONA_PREFIX.length);
    const persona = await this.personas!.catalog.get(id);
    if (!persona) {
      throw new SwitchyardError('model_not_found', `The model \`${request.model}\` does not exist or you do not have access to it.`, { param: 'model' });
    }
    const applied = applyPersona(request, persona);
    const call: PersonaCall = { persona, modelAsked: request.model, layers: applied.layers, recovery: undefined };
    const first = await this.chatOnce(applied.request, options, call);
    if (first.kind === 'stream' || !first.endWithRecovery) return first;
    let recovered: CompletionReply = first;
    try {
      recovered = await this.recover(request, persona, applied.request, first, options, call);
    } finally {
      // However recovery went, the first call's record is written, saying what ran.
      await first.endWithRecovery(recovered.persona?.recovery);
    }
    return recovered;
  }

  /** A persona's recovery of a reply that drifted: one regeneration or the fallback model; the reply that drifted least. */
  private async recover(request: ChatRequest, persona: Persona, appliedRequest: ChatRequest, first: CompletionReply, options: CallOptions, call: PersonaCall): Promise<CompletionReply> {
    if (options.signal.aborted || !first.persona) return first;
    const { endWithRecovery: _first, ...firstReply } = first;
    const recovery = persona.recovery.policy;
    const retry =
      recovery === 'regenerate'
        ? applyPersona(request, persona, reinforcement(persona, first.persona.drift.reasons)).request
        : { ...appliedRequest, model: persona.recovery.fallback_model! };
    try {
      // Its own audit record: the recovery costs tokens of its own, and the first call's record keeps its score.
      const recoveryOptions = { ...options, ...(options.auditId ? { auditId: `${options.auditId}${RECOVERY_AUDIT_SUFFIX}` } : {}) };
      const second = await this.chatOnce({ ...retry, stream: false }, recoveryOptions, { ...call, recovery });
      if (second.kind !== 'completion' || !second.persona) return { ...firstReply, persona: { ...first.persona, recovery: `${recovery} (failed)` } };
      // The recovered reply ships unless it drifted further; either way the headers say recovery ran.
      const better = second.persona.drift.score <= first.persona.drift.score ? second : firstReply;
      return { ...better, persona: { ...better.persona!, recovery } };
    } catch {
      // Recovery is best effort: the first reply is still a reply.
      return { ...firstReply, persona: { ...first.persona, recovery: `${recovery} (failed)` } };
    }
  }

  private async chatOnce(request: ChatRequest, options: CallOptions, personaCall: PersonaCall | undefined): Promise<StreamReply<RelayChunk | UnreadChunk> | CompletionReply> {
    const started = this.now();
    const stream = request.stream === true;
    // Tracing reads the first chunk's id and model, and a persona's judge reads every chunk.
    const relayOnly = options.relayOnly === true && stream && personaCall === undefined && !this.detailed;
    // Route and provider are filled in once resolved: a call that fails to resolve is reported too.
    const summary = newSummary(options, personaCall?.modelAsked ?? request.model, stream);
    const end = (error?: unknown) => this.endCall(summary, started, options.signal, error);
    /** Set once a stream's first chunk is in: its target's health is told when it ends. */
    let settleHealth: ((error?: unknown) => void) | undefined;
    if (this.detailed) {
      summary.startedAt = started;
      summary.request = { maxTokens: request.max_completion_tokens ?? request.max_tokens ?? undefined, temperature: request.temperature ?? undefined, topP: request.top_p ?? undefined };
    }

    try {
      const plannedBase = this.planner.plan(request.model, options.caller);
      const planned = personaCall ? { ...plannedBase, layers: [`persona:${personaCall.persona.id}`, ...plannedBase.layers] } : plannedBase;
      // Targets that cannot take the request's images are set aside (or the request refused).
      const images = await prepareImages(request, planned.targets, this.imageRules, options.signal);
      const plan: RoutePlan = images ? { ...planned, targets: images.targets } : planned;
      // Limits are checked against every target before any is called: a 400 is the request's fault.
      for (const target of plan.targets) checkOutputLimit(request, target.resolved);
      const includeUsage = request.stream_options?.include_usage === true;
      const deadline = stream ? firstChunkDeadline : wholeReplyDeadline;
      const outcome = await this.attempt(plan, summary, options.signal, deadline, async (target, signal) => {
        const resolved = target.resolved;
        const sent = withDeclaredOutputLimit(images ? images.requestFor(target) : request, resolved);
        const result = await resolved.provider.chat({ ...sent, model: resolved.model }, { signal, requestId: options.requestId, relayOnly });
        if (result.kind === 'relay-stream' && !relayOnly) throw new Error(`Provider '${resolved.provider.id}' answered with unread events that were not asked for.`);
        if (!stream) {
          if (result.kind === 'relay-stream') throw new Error(`Provider '${resolved.provider.id}' answered a non-streaming request with a stream.`);
          const completion = result.kind === 'completion' ? result.completion : await aggregateChunks(result.chunks);
          return { kind: 'completion' as const, completion, rawJson: result.kind === 'completion' ? result.rawJson : undefined };
        }
        if (result.kind === 'completion') throw new Error(`Provider '${resolved.provider.id}' answered a stream request without a stream.`);
        const iterator: AsyncIterator<RelayChunk | UnreadChunk> = result.chunks[Symbol.asyncIterator]();
        // The first-byte contract: the first chunk is awaited here, so a failure before it is still
        // a proper HTTP error, or a reason to fall back to the next target.
        try {
          const first = await iterator.next();
          return { kind: 'stream' as const, first, iterator };
        } catch (error) {
          await iterator.return?.();
          throw error;
        }
      }, stream);
      summary.timeToFirstChunkMs = this.now() - started;
      summary.overheadMs = overhead(started, options.receivedAt, summary);
      const resolved = outcome.target.resolved;
      if (outcome.value.kind === 'completion') {
        summary.usage = outcome.value.completion.usage;
        if (this.detailed) {
          const completion = outcome.value.completion;
          summary.response = { model: completion.model, id: completion.id, finishReasons: completion.choices.map((choice) => choice.finish_reason) };
        }
        const persona = personaCall ? await this.judgeReply(personaCall, summary, outcome.value.completion.choices[0]?.message.content ?? '', resolved, options) : undefined;
        const recovers = personaCall !== undefined && personaCall.recovery === undefined && persona?.drift.alert === true && personaCall.persona.recovery.policy !== 'off';
        const endWithRecovery = (recovery: string | undefined) => {
          if (summary.drift) summary.drift.recovery = recovery;
          return end();
        };
        if (!recovers) await end();
        // A persona's reply is re-serialized: its headers describe this body, not the upstream's bytes.
        return {
          kind: 'completion',
          route: summary.route,
          resolved,
          completion: outcome.value.completion,
          rawJson: persona ? undefined : outcome.value.rawJson,
          persona,
          ...(recovers ? { endWithRecovery } : {}),
        };
      }
      const { first, iterator } = outcome.value;
      const health = this.streamHealth(resolved.publicId, options.signal);
      settleHealth = health;
      const endStream = (error?: unknown) => {
        health(error);
        return end(error);
      };
      if (this.detailed && !first.done && first.value.choices !== undefined) summary.response = { model: first.value.model, id: first.value.id };
      if (!personaCall) return { kind: 'stream', route: summary.route, resolved, chunks: relay(first, iterator, includeUsage, summary, endStream) };
      // The reply is judged as it passes and before the call ends, so its audit record has the score.
      let verdict: DriftVerdict | undefined;
      const judged = judgedStream(first, iterator, async (text) => {
        verdict = (await this.judgeReply(personaCall, summary, text, resolved, options)).drift;
      });
      const trailer = () => (verdict ? `x-switchyard-drift-score=${verdict.score} alert=${verdict.alert}` : undefined);
      return { kind: 'stream', route: summary.route, resolved, chunks: relay(await judged.next(), judged, includeUsage, summary, endStream), trailer };
    } catch (error) {
      settleHealth?.(error);
      await end(error);
      throw toSwitchyardError(error);
    }
  }

  /** Scores a persona reply and notes it on the call's summary (for the audit record). */
  private async judgeReply(call: PersonaCall, summary: CallSummary, text: string, resolved: ResolvedModel, options: CallOptions) {
    const layers = [...call.layers, ...summary.route.split(' > ').filter((layer) => layer.startsWith('alias:')), `provider:${resolved.provider.id}`];
    if (call.recovery) layers.push(`recovery:${call.recovery}`);
    let drift: DriftVerdict;
    try {
      drift = await this.personas!.judge.judge(text, call.persona, options.caller.workspaceId, options.caller.sandboxed === true);
    } catch {
      // A judge that fails (the embedding model down) must not fail the reply: the rules alone decide.
      drift = { score: 0, reasons: ['drift could not be scored'], alert: false, threshold: this.personas!.judge.thresholdFor(options.caller.workspaceId) };
    }
    summary.drift = { score: drift.score, alert: drift.alert, layers, recovery: call.recovery };
    return { drift, layers, recovery: call.recovery };
  }

  /**
   * Legacy completions (`POST /v1/completions`) along the same route plan as chat: the targets
   * whose provider can `complete`, with the same fallbacks, retries, deadlines and first-byte
   * contract, reported to `onCallEnd` the same way.
   */
  async complete(request: CompletionRequest, options: CallOptions): Promise<TextCompletionReply> {
    const started = this.now();
    const stream = request.stream === true;
    const summary = newSummary(options, request.model, stream);
    summary.kind = 'completion';
    const end = (error?: unknown) => this.endCall(summary, started, options.signal, error);
    try {
      const planned = this.planner.plan(request.model, options.caller);
      const plan = capablePlan(planned, summary, (provider) => provider.complete !== undefined, (first) =>
        new UnsupportedFeatureError(
          `The model \`${request.model}\` does not serve legacy completions (its backend, '${first.provider.kind}', has no raw text completion); use /v1/chat/completions.`,
          'model',
        ),
      );
      const targets = plan.targets;
      for (const target of targets) checkOutputLimit(request, target.resolved);
      const includeUsage = request.stream_options?.include_usage === true;
      const deadline = stream ? firstChunkDeadline : wholeReplyDeadline;
      const outcome = await this.attempt(plan, summary, options.signal, deadline, async (target, signal) => {
        const resolved = target.resolved;
        const result = await resolved.provider.complete!({ ...request, model: resolved.model }, { signal, requestId: options.requestId });
        if (!stream) {
          const completion = result.kind === 'completion' ? result.completion : await aggregateCompletionChunks(result.chunks);
          return { kind: 'completion' as const, completion, rawJson: result.kind === 'completion' ? result.rawJson : undefined };
        }
        if (result.kind !== 'stream') throw new Error(`Provider '${resolved.provider.id}' answered a stream request without a stream.`);
        const iterator = result.chunks[Symbol.asyncIterator]();
        // The first-byte contract, as for chat: a failure before the first event can still fall back.
        try {
          const first = await iterator.next();
          return { kind: 'stream' as const, first, iterator };
        } catch (error) {
          await iterator.return?.();
          throw error;
        }
      }, stream);
      summary.timeToFirstChunkMs = this.now() - started;
      summary.overheadMs = overhead(started, options.receivedAt, summary);
      const resolved = outcome.target.resolved;
      if (outcome.value.kind === 'completion') {
        summary.usage = outcome.value.completion.usage;
        await end();
        return { kind: 'completion', route: summary.route, resolved, completion: outcome.value.completion, rawJson: outcome.value.rawJson };
      }
      const { first, iterator } = outcome.value;
      const health = this.streamHealth(resolved.publicId, options.signal);
      const endStream = (error?: unknown) => {
        health(error);
        return end(error);
      };
      return { kind: 'stream', route: summary.route, resolved, chunks: relay(first, iterator, includeUsage, summary, endStream) };
    } catch (error) {
      await end(error);
      throw toSwitchyardError(error);
    }
  }

  /**
   * Tries a plan's targets in order: each up to `retries` more times after a retryable failure
   * (429, 5xx, timeout, connection), with backoff that honours `retry-after`; a target whose circuit
   * is open is skipped while others remain. A failure caused by the request (4xx) ends it at once.
   */
  private async attempt<T>(
    plan: RoutePlan,
    summary: CallSummary,
    signal: AbortSignal,
    deadline: (target: PlannedTarget) => number | undefined,
    call: (target: PlannedTarget, signal: AbortSignal) => Promise<T>,
    /** A stream: its target's health is known only at its end (`streamHealth`), not at its first chunk. */
    healthAtEnd = false,
  ): Promise<{ target: PlannedTarget; value: T }> {
    let lastError: SwitchyardError | undefined;
    // Open, or half-open with its probe already out: no target would take the call now.
    const allOpen = plan.targets.every((target) => this.breakers.state(target.resolved.publicId).state !== 'closed');
    for (const [index, target] of plan.targets.entries()) {
      const id = target.resolved.publicId;
      // With every circuit open, the plan is tried anyway: refusing outright helps nobody.
      if (!allOpen && !this.breakers.allow(id)) continue;
      for (let attempt = 0; attempt <= plan.retries; attempt++) {
        if (signal.aborted) {
          this.breakers.release(id);
          throw new ClientAbortedError();
        }
        summary.route = routeLabel(plan, id, index);
        summary.target = id;
        summary.providerId = target.resolved.provider.id;
        // Each attempt that another may follow has its own signal: a deadline or a failure cancels
        // that attempt's backend work, and the client leaving cancels whichever attempt is running.
        // A lone attempt without a deadline (the common direct call) simply uses the client's signal.
        const alone = plan.targets.length === 1 && plan.retries === 0 && deadline(target) === undefined;
        const attemptController = alone ? undefined : new AbortController();
        const cancel = attemptController ? () => attemptController.abort() : undefined;
        if (cancel) signal.addEventListener('abort', cancel, { once: true });
        const calledAt = this.now();
        const attemptRecord = this.detailed ? { target: summary.route, startedAt: calledAt, endedAt: undefined as number | undefined, errorCode: undefined as string | undefined } : undefined;
        if (attemptRecord) (summary.attempts ??= []).push(attemptRecord);
        try {
          const value = await withDeadline(call(target, attemptController?.signal ?? signal), deadline(target), id);
          summary.upstreamMs = (summary.upstreamMs ?? 0) + (this.now() - calledAt);
          if (!healthAtEnd) this.breakers.success(id);
          return { target, value };
        } catch (error) {
          summary.upstreamMs = (summary.upstreamMs ?? 0) + (this.now() - calledAt);
          attemptController?.abort();
          if (cancel) signal.removeEventListener('abort', cancel);
          const failure = toSwitchyardError(error);
          if (attemptRecord) {
            attemptRecord.endedAt = this.now();
            attemptRecord.errorCode = String(failure.code);
          }
          // Neither the client leaving nor the request's own fault says anything of the target's
          // health; a half-open probe that ends so must not hold the circuit (no other probe could go).
          // A target that lacks a feature the request uses: the next target of an alias may have it.
          if (!signal.aborted && (failure as { targetLacksFeature?: boolean }).targetLacksFeature === true && index < plan.targets.length - 1) {
            this.breakers.release(id);
            lastError = failure;
            break;
          }
          if (signal.aborted || !failure.retryable) {
            this.breakers.release(id);
            throw signal.aborted ? new ClientAbortedError() : failure;
          }
          this.breakers.failure(id);
          lastError = failure;
          if (attempt < plan.retries) {
            const wait = backoffMs(attempt, failure.retryAfterSeconds, this.routing);
            if (wait === undefined) break;
            const sleptFrom = this.now();
            await sleep(wait, undefined, { signal }).catch(() => undefined);
            summary.upstreamMs = (summary.upstreamMs ?? 0) + (this.now() - sleptFrom);
          }
        }
      }
    }
    throw lastError ?? new UpstreamError('upstream_unavailable', 'Every target of this route is unavailable (circuits open).');
  }

  /** Circuit state of every target seen so far, for health views. */
  targetHealth(): Array<{ target: string } & BreakerState> {
    return this.breakers.targets().map((target) => ({ target, ...this.breakers.state(target) }));
  }

  /** Throws `model_not_found` unless `name` routes somewhere for this caller (a model, an alias, a prefix, a persona). */
  async checkModel(name: string, caller: Caller): Promise<void> {
    if (this.personas && name.startsWith(PERSONA_PREFIX)) {
      if (await this.personas.catalog.get(name.slice(PERSONA_PREFIX.length))) return;
      throw new SwitchyardError('model_not_found', `The model \`${name}\` does not exist or you do not have access to it.`, { param: 'model' });
    }
    this.planner.plan(name, caller);
  }

  aliasNames(): string[] {
    return this.planner.aliasNames();
  }

  /** Every alias with its targets and each target's circuit, for the admin API. */
  routes(): Array<{ name: string; strategy: AliasRoute['strategy']; retries: number; targets: Array<PlannedTarget & { circuit: BreakerState }> }> {
    return this.planner.aliasRoutes().map((route) => ({
      name: route.name,
      strategy: route.strategy,
      retries: route.retries,
      targets: route.targets.map((target) => ({ ...target, circuit: this.breakers.state(target.resolved.publicId) })),
    }));
  }

  /**
   * Embeddings along the same route plan as chat: the targets whose provider can `embed`, with the
   * same fallbacks, retries, circuits and deadline, reported to `onCallEnd` the same way.
   */
  async embed(request: Omit<EmbeddingsRequest, 'model'> & { model: string }, options: CallOptions): Promise<EmbeddingsResult & { route: string }> {
    const started = this.now();
    const summary = newSummary(options, request.model, false);
    summary.kind = 'embeddings';
    if (this.detailed) summary.startedAt = started;
    try {
      const planned = this.planner.plan(request.model, options.caller);
      const plan = capablePlan(planned, summary, (provider) => provider.embed !== undefined, () => new UnsupportedFeatureError(`The model \`${request.model}\` does not make embeddings.`, 'model'));
      const outcome = await this.attempt(plan, summary, options.signal, wholeReplyDeadline, (target, signal) =>
        target.resolved.provider.embed!({ ...request, model: target.resolved.model }, { signal, requestId: options.requestId }),
      );
      const result = outcome.value;
      summary.timeToFirstChunkMs = this.now() - started;
      summary.overheadMs = overhead(started, options.receivedAt, summary);
      summary.usage = { prompt_tokens: result.promptTokens, completion_tokens: 0, total_tokens: result.promptTokens };
      await this.endCall(summary, started, options.signal);
      return { ...result, route: summary.route };
    } catch (error) {
      await this.endCall(summary, started, options.signal, error);
      throw toSwitchyardError(error);
    }
  }

  /**
   * Closes a call's summary — duration, and the error and status when it failed — and reports it;
   * what it returns settles once the report is durable, for the answer to wait on.
   */
  /**
   * How a stream's target fared, told to its circuit once the stream ends: a stream that breaks
   * after its first chunk is a failure of its target like one that breaks before it (an upstream
   * that always fails mid-stream would otherwise never open its circuit). The client leaving, or
   * the request's own fault, says nothing of the target's health. Once only.
   */
  private streamHealth(target: string, signal: AbortSignal): (error?: unknown) => void {
    let told = false;
    return (error) => {
      if (told) return;
      told = true;
      if (error === undefined) this.breakers.success(target);
      else if (error instanceof ClientAbortedError || signal.aborted || !toSwitchyardError(error).retryable) this.breakers.release(target);
      else this.breakers.failure(target);
    };
  }

  private endCall(summary: CallSummary, started: number, signal: AbortSignal, error?: unknown): Promise<void> | void {
    summary.durationMs = this.now() - started;
    if (error !== undefined) {
      summary.error = toSwitchyardError(error);
      summary.status = error instanceof ClientAbortedError || signal.aborted ? 'aborted' : 'failed';
    }
    return this.onCallEnd?.(summary);
  }
}

/**
 * The plan narrowed to the targets whose backend can make this kind of call (an alias's fallbacks
 * skip the others); with none, the call is noted against the first target and refused.
 */
function capablePlan(planned: RoutePlan, summary: CallSummary, can: (provider: Provider) => boolean, refusal: (first: ResolvedModel) => SwitchyardError): RoutePlan {
  const targets = planned.targets.filter((target) => can(target.resolved.provider));
  if (targets.length > 0) return { ...planned, targets };
  const first = planned.targets[0]!.resolved;
  summary.route = first.publicId;
  summary.target = first.publicId;
  summary.providerId = first.provider.id;
  throw refusal(first);
}

/** A call's summary before anything is known of its route or outcome. */
function newSummary(options: CallOptions, modelAsked: string, stream: boolean): CallSummary {
  return {
    requestId: options.requestId,
    auditId: options.auditId,
    caller: options.caller,
    modelAsked,
    route: '',
    target: undefined,
    providerId: '',
    stream,
    usage: undefined,
    streamedChunks: undefined,
    timeToFirstChunkMs: undefined,
    durationMs: 0,
    status: 'completed',
    error: undefined,
  };
}

/** Switchyard's own milliseconds before the first chunk: arrival to now, backends' time excluded. */
function overhead(started: number, receivedAt: number | undefined, summary: CallSummary): number {
  const inHand = (summary.timeToFirstChunkMs ?? 0) + (receivedAt === undefined ? 0 : Math.max(0, started - receivedAt));
  return Math.max(0, inHand - (summary.upstreamMs ?? 0));
}

/** `max_tokens` / `max_completion_tokens` beyond the model's declared output limit is a 400. */
function checkOutputLimit(request: Pick<ChatRequest, 'max_completion_tokens' | 'max_tokens'>, resolved: ResolvedModel): void {
  const limit = resolved.info?.maxOutputTokens;
  if (limit === undefined) return;
  for (const param of ['max_completion_tokens', 'max_tokens'] as const) {
    const asked = request[param];
    if (asked != null && asked > limit) {
      throw new ValidationError(
        `${param} is too large: ${asked}. This model supports at most ${limit} completion tokens, whereas you provided ${asked}.`,
        param,
      );
    }
  }
}

/** A copy of a chunk without its usage, written from the object: the upstream's text would still carry it. */
function withoutUsage<T extends { usage?: unknown }>(chunk: T): T {
  const { usage: _usage, ...rest } = chunk;
  delete (rest as { [RAW_JSON]?: string })[RAW_JSON];
  return rest as T;
}

/**
 * A request that sets no output limit gets the target's declared `maxOutputTokens`, as
 * `max_completion_tokens`, marked as not the client's: the declared limit caps every reply the
 * engine, the sandbox or a translated backend makes, as the platform's token reservation assumes.
 * Per target: an alias's fallbacks may declare others. A backend that is sent the client's body as
 * it came (an OpenAI-compatible upstream) is left to its own default.
 */
function withDeclaredOutputLimit(request: ChatRequest, resolved: ResolvedModel): ChatRequest {
  const limit = resolved.info?.maxOutputTokens;
  if (limit === undefined || resolved.provider.forwardsClientBody === true || request.max_completion_tokens != null || request.max_tokens != null) return request;
  return { ...request, max_completion_tokens: limit, [OUTPUT_LIMIT_DEFAULTED]: true };
}

/**
 * The one pass over a stream's chunks: it notes usage for accounting, drops the usage chunk the
 * client did not ask for, and reports the call's end however the stream ends.
 */
async function* relay<T extends { choices?: readonly unknown[] | undefined; usage?: CompletionUsage | null | undefined }>(
  first: IteratorResult<T>,
  iterator: AsyncIterator<T>,
  includeUsage: boolean,
  summary: CallSummary,
  end: (error?: unknown) => Promise<void> | void,
): AsyncGenerator<T> {
  let ended = false;
  try {
    let next = first;
    while (!next.done) {
      const chunk = next.value;
      if (chunk.usage) summary.usage = chunk.usage;
      // Usage goes on only when the client asked for it: the usage chunk (`choices: []`) is
      // dropped, and an upstream's usage on a chunk with choices (its last) is cut from it.
      if (!chunk.usage || includeUsage) {
        summary.streamedChunks = (summary.streamedChunks ?? 0) + 1;
        yield chunk;
      } else if (chunk.choices !== undefined && chunk.choices.length > 0) {
        summary.streamedChunks = (summary.streamedChunks ?? 0) + 1;
        yield withoutUsage(chunk);
      }
      next = await iterator.next();
    }
    ended = true;
    // The last chunk is out; the stream's end (`[DONE]`) waits for the usage record to be durable.
    await end();
  } catch (error) {
    ended = true;
    await end(error);
    throw toSwitchyardError(error);
  } finally {
    if (!ended) {
      // The consumer stopped early (the client left): stop the provider too.
      void end(new ClientAbortedError());
      await iterator.return?.();
    }
  }
}

/**
 * A stream passed through unchanged while its text is collected; once it ends, `onEnd` runs with
 * the whole text before the end is passed on (so what it learns reaches the call's summary).
 */
async function* judgedStream<T extends RelayChunk | UnreadChunk>(first: IteratorResult<T>, iterator: AsyncIterator<T>, onEnd: (text: string) => Promise<void>): AsyncGenerator<T> {
  let text = '';
  let next = first;
  try {
    while (!next.done) {
      // Persona calls never ask for unread events (`relayOnly`): every chunk here was read.
      const content = next.value.choices?.[0]?.delta.content;
      if (content) text += content;
      yield next.value;
      next = await iterator.next();
    }
  } finally {
    if (!next.done) await iterator.return?.();
  }
  await onEnd(text);
}

/** `alias:fast > openai/gpt-4o-mini (after 1 fallback)`: the chain a call took, for `x-switchyard-route`. */
function routeLabel(plan: RoutePlan, target: string, fallbacks: number): string {
  const chain = [...plan.layers, target].join(' > ');
  return fallbacks === 0 ? chain : `${chain} (after ${fallbacks} fallback${fallbacks === 1 ? '' : 's'})`;
}

/**
 * Exponential backoff with full jitter; an upstream's `retry-after` wins when it asks for longer.
 * Undefined when the upstream asks to wait longer than the cap: better to move to the next target.
 */
export function backoffMs(attempt: number, retryAfterSeconds: number | undefined, routing: RoutingConfig, random = Math.random): number | undefined {
  const exponential = Math.min(routing.maxDelayMs, routing.baseDelayMs * 2 ** attempt);
  const jittered = Math.round(random() * exponential);
  if (retryAfterSeconds === undefined) return jittered;
  const asked = retryAfterSeconds * 1000;
  return asked > routing.maxDelayMs ? undefined : Math.max(asked, jittered);
}

/** How long a target has to answer: a stream until its first chunk, a whole reply until its end. */
function firstChunkDeadline(target: PlannedTarget): number | undefined {
  return target.firstChunkTimeoutMs ?? target.timeoutMs;
}

function wholeReplyDeadline(target: PlannedTarget): number | undefined {
  return target.timeoutMs;
}

/** A promise with a deadline; past it, a retryable timeout (the caller aborts the attempt). */
function withDeadline<T>(promise: Promise<T>, timeoutMs: number | undefined, target: string): Promise<T> {
  if (timeoutMs === undefined) return promise;
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new UpstreamError('upstream_timeout', `The target '${target}' did not answer within ${timeoutMs} ms.`)), timeoutMs);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}
