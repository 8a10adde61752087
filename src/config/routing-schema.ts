import { z } from 'zod';

/** One target of an alias: a model name (`provider/model`), with its own limits. */
export const AliasTargetSchema = z.union([
  z.string().min(1).transform((model) => ({ model, weight: 1 })),
  z.strictObject({
    model: z.string().min(1),
    /** Share of traffic under `strategy: weighted`. */
    weight: z.number().positive().default(1),
    /** Whole-call deadline for a non-streaming call, and for a stream's first chunk unless set below. */
    timeoutMs: z.number().int().positive().optional(),
    /** A stream whose first chunk takes longer goes to the next target. */
    firstChunkTimeoutMs: z.number().int().positive().optional(),
  }),
]);

export const AliasSchema = z.union([
  z.array(AliasTargetSchema).min(1).transform((targets) => ({ targets, strategy: 'fallback' as const, retries: 0 })),
  z.strictObject({
    targets: z.array(AliasTargetSchema).min(1),
    /** `fallback`: in order; `weighted`: a weighted draw picks the first, the rest follow as fallbacks. */
    strategy: z.enum(['fallback', 'weighted']).default('fallback'),
    /** Extra attempts on the same target after a retryable failure, before moving on. */
    retries: z.number().int().min(0).max(10).default(0),
  }),
]);

export const RoutingSchema = z.strictObject({
  /** Backoff between retries: exponential from `baseDelayMs`, with full jitter, capped at `maxDelayMs`. */
  baseDelayMs: z.number().int().min(0).default(200),
  maxDelayMs: z.number().int().min(0).default(5_000),
  /** A target that fails this many times in a row is skipped... */
  breakerFailures: z.number().int().min(1).default(5),
  /** ...for this long, then probed again by one request. */
  breakerCooldownMs: z.number().int().min(0).default(30_000),
});

export type AliasConfig = z.output<typeof AliasSchema>;
export type AliasTarget = z.output<typeof AliasTargetSchema>;
export type RoutingConfig = z.output<typeof RoutingSchema>;

export const RoutingConfigShape = {
  /** Model aliases (`fast`, `balanced`, `smart` by default): names that route to ordered or weighted targets. */
  aliases: z.record(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'alias names are letters, digits, ".", "_" or "-"'), AliasSchema).default({}),
  routing: RoutingSchema.default(RoutingSchema.parse({})),
};
