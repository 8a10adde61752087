import { z } from 'zod';

/** Where the platform keeps its state: keys, workspaces, usage. */
export const StoreConfigSchema = z.strictObject({
  /** Directory of the SQLite file and the server secret; created at start. */
  dataDir: z.string().min(1).default('./.data'),
  /** PostgreSQL instead of SQLite (`postgres://…`); `DATABASE_URL` sets it too. */
  databaseUrl: z.string().min(1).optional(),
});

/** What a tier allows a workspace. An absent limit is no limit. */
export const TierSchema = z.strictObject({
  requestsPerMinute: z.number().int().positive().optional(),
  tokensPerMinute: z.number().int().positive().optional(),
  /** Requests in flight at once (streams count until they end). */
  concurrentRequests: z.number().int().positive().optional(),
  /** Prompt + completion tokens per calendar month (UTC); beyond it, 429 `insufficient_quota`. */
  monthlyTokenBudget: z.number().int().positive().optional(),
  /** Model patterns the tier may call (`openai/*`, `sandbox/echo`); absent: every model. */
  allowedModels: z.array(z.string().min(1)).optional(),
});
export type Tier = z.output<typeof TierSchema>;

export const DEFAULT_TIERS: Record<string, Tier> = {
  free: { requestsPerMinute: 60, tokensPerMinute: 40_000, concurrentRequests: 4, monthlyTokenBudget: 2_000_000 },
  pro: { requestsPerMinute: 3_500, tokensPerMinute: 2_000_000, concurrentRequests: 64 },
  scale: { requestsPerMinute: 10_000, tokensPerMinute: 10_000_000, concurrentRequests: 256 },
};

export const LimitsConfigSchema = z.strictObject({
  /** Redis for limits shared by every node (`redis://…`); `REDIS_URL` sets it too. In memory otherwise. */
  redisUrl: z.string().min(1).optional(),
  /** Output tokens assumed for the tokens/min estimate when a request sets no `max_tokens` and the model declares no limit. */
  defaultMaxOutputTokens: z.number().int().positive().default(1024),
  /** `retry-after` hint for a request refused by the concurrency limit. */
  concurrencyRetryAfterMs: z.number().int().positive().default(500),
});

/**
 * The longest a rotated key's old secret may keep working: 30 days. A grace is the time to deploy
 * the new secret; one longer defeats the rotation (and one of 2^53 s is no date at all).
 */
export const MAX_ROTATION_GRACE_SECONDS = 30 * 86_400;

export const KeysConfigSchema = z.strictObject({
  /** How long a rotated key's old secret keeps working (0: not at all, at most 30 days). Default 24 h. */
  rotationGraceSeconds: z.number().int().min(0).max(MAX_ROTATION_GRACE_SECONDS).default(86_400),
  /** How often each node checks the store for revoked or changed keys. */
  changePollMs: z.number().int().positive().max(1_000).default(500),
});

/** USD per million tokens. */
export const PriceSchema = z.strictObject({
  input: z.number().min(0).default(0),
  output: z.number().min(0).default(0),
  /** Cached prompt tokens; defaults to `input`. */
  cachedInput: z.number().min(0).optional(),
});

export const UsageConfigSchema = z.strictObject({
  /** Usage records are written in batches this often (and at shutdown). */
  flushIntervalMs: z.number().int().positive().default(1_000),
  /**
   * Each record is appended to a journal in the data directory before its call's answer completes,
   * and the journal is replayed at start: a killed process loses no usage (docs/architecture.md).
   */
  journal: z.boolean().default(true),
  /** A batch is written at once when it reaches this size. */
  batchSize: z.number().int().positive().default(500),
  /** Prices by model: `provider/model` or a bare model name. Unpriced models cost 0. */
  prices: z.record(z.string(), PriceSchema).default({}),
});

/** The API platform's parts of the config file, spread into the top-level schema. */
export const PlatformConfigShape = {
  store: StoreConfigSchema.default(StoreConfigSchema.parse({})),
  /** Named tiers; a workspace has one. Defaults: free, pro, scale. */
  tiers: z.record(z.string().regex(/^[a-z0-9_-]+$/), TierSchema).default(DEFAULT_TIERS),
  /** The tier of new workspaces (and of the default one). */
  defaultTier: z.string().default('pro'),
  limits: LimitsConfigSchema.default(LimitsConfigSchema.parse({})),
  keys: KeysConfigSchema.default(KeysConfigSchema.parse({})),
  usage: UsageConfigSchema.default(UsageConfigSchema.parse({})),
};
