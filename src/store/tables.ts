/**
 * The store's tables as Kysely sees them. Times are Unix milliseconds; booleans are 0/1 (SQLite has
 * no boolean, and better-sqlite3 refuses to bind one); JSON columns are text.
 */
export interface Database {
  workspaces: WorkspaceTable;
  api_keys: ApiKeyTable;
  usage_records: UsageRecordTable;
  usage_daily: UsageDailyTable;
  settings: SettingTable;
  counters: CounterTable;
  responses: ResponseTable;
  response_item_holders: ResponseItemHolderTable;
  personas: PersonaTable;
  response_routes: ResponseRouteTable;
}

export interface WorkspaceTable {
  id: string;
  name: string;
  tier: string;
  sandboxed: number;
  created_at: number;
  updated_at: number;
}

export interface ApiKeyTable {
  id: string;
  workspace_id: string;
  name: string;
  /** The start of the secret, shown in lists (`sk_live_Ab12cd`). */
  prefix: string;
  /** HMAC-SHA256 of the whole secret under the server secret, base64url. */
  secret_hash: string;
  /** JSON array of model patterns, or null for every model the tier allows. */
  allowed_models: string | null;
  /** JSON `{ requestsPerMinute?, tokensPerMinute?, concurrentRequests? }` of the key's own limits, or null. */
  limits: string | null;
  expires_at: number | null;
  created_at: number;
  last_used_at: number | null;
  revoked_at: number | null;
  /** The key this one replaced by rotation. */
  rotated_from: string | null;
  /** The key that replaced this one; set together with a shortened `expires_at` (the grace deadline). */
  rotated_to: string | null;
  /**
   * The first key of this key's rotation chain (its own id when it was created, not rotated):
   * per-key rate limits count under it, so a rotation is the same key to the limits. Null only in
   * rows no migration has reached, read as the key's own id.
   */
  lineage_id: string | null;
  /** The `keys` counter when the row last changed: nodes drop cached rows newer than what they saw. */
  version: number;
}

export interface UsageRecordTable {
  audit_id: string;
  request_id: string;
  created_at: number;
  /** `YYYY-MM-DD`, UTC. */
  day: string;
  key_id: string | null;
  workspace_id: string | null;
  sandboxed: number;
  model_asked: string;
  route: string;
  provider_id: string;
  stream: number;
  prompt_tokens: number;
  completion_tokens: number;
  reasoning_tokens: number;
  cached_tokens: number;
  cost_usd: number;
  latency_ms: number;
  ttft_ms: number | null;
  /** completed | failed | aborted | rejected */
  status: string;
  error_code: string | null;
  /** Persona calls: the reply's drift score in [0, 1], whether it passed the threshold, the layers, the recovery run (`regenerate`, `fallback`). */
  drift_score?: number | null;
  drift_alert?: number | null;
  layers?: string | null;
  recovery?: string | null;
}

/** One row per day, workspace, key and route ('' where there is none). */
export interface UsageDailyTable {
  day: string;
  workspace_id: string;
  key_id: string;
  model: string;
  sandboxed: number;
  requests: number;
  errors: number;
  prompt_tokens: number;
  completion_tokens: number;
  reasoning_tokens: number;
  cached_tokens: number;
  cost_usd: number;
}

export interface SettingTable {
  name: string;
  value: string;
  updated_at: number;
}

/** Monotonic counters; `keys` goes up by one in every transaction that changes a key or a workspace. */
export interface CounterTable {
  name: string;
  value: number;
}

/** A stored Responses API response (src/protocols/responses); its JSON columns are kept whole. */
export interface ResponseTable {
  id: string;
  /** The workspace that made it, '' for callers without one: other workspaces never see it. */
  workspace_id: string;
  created_at: number;
  /** The Response object, JSON. */
  response: string;
  /** The context it was made from (previous context and output, then its input), JSON array. */
  input_items: string;
  /** Its stream events for replay, JSON array. */
  events: string;
}

/** A stored response that holds an item (by the item's id), for `item_reference` input items: one row per holder. */
export interface ResponseItemHolderTable {
  workspace_id: string;
  item_id: string;
  response_id: string;
  /** When the response was saved (ms): the last saved holder answers a reference. */
  saved_at: number;
}

/** A persona (src/gateway/personas): its definition as the admin API takes it, JSON. */
export interface PersonaTable {
  id: string;
  definition: string;
  created_at: number;
  updated_at: number;
}

/** A response passed through to an upstream: which provider holds it (src/protocols/responses/response-routes.ts). */
export interface ResponseRouteTable {
  id: string;
  workspace_id: string;
  provider_id: string;
  created_at: number;
}
