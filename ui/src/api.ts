// The admin API, called with the session cookie and its CSRF token (never with the admin key itself).

let csrfToken: string | undefined;
let onSignedOut: () => void = () => {};

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code: string | null,
    /** The request field the error is about (OpenAI's `param`), e.g. `parameters.temperature`. */
    readonly param: string | null = null,
  ) {
    super(message);
  }
}

export function setSignedOutHandler(handler: () => void): void {
  onSignedOut = handler;
}

async function errorOf(response: Response): Promise<ApiError> {
  let message = `${response.status} ${response.statusText}`;
  let code: string | null = null;
  let param: string | null = null;
  try {
    const body = (await response.json()) as { error?: { message?: string; code?: string; param?: string | null } };
    if (body.error?.message) message = body.error.message;
    code = body.error?.code ?? null;
    param = body.error?.param ?? null;
  } catch {
    // not JSON
  }
  return new ApiError(response.status, message, code, param);
}

export function headers(json: boolean): Record<string, string> {
  return { ...(csrfToken ? { 'x-switchyard-csrf': csrfToken } : {}), ...(json ? { 'content-type': 'application/json' } : {}) };
}

/** A call to `/admin/v1{path}`; a 401 means the session ended. */
export async function api<T = any>(method: string, path: string, body?: unknown): Promise<T> {
  const response = await fetch(`/admin/v1${path}`, {
    method,
    credentials: 'same-origin',
    headers: headers(body !== undefined),
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  if (response.status === 401) {
    csrfToken = undefined;
    onSignedOut();
  }
  if (!response.ok) throw await errorOf(response);
  return (await response.json()) as T;
}

/** Streams a playground call: the raw response, for the caller to read as server-sent events. */
export async function playgroundStream(body: unknown, signal: AbortSignal): Promise<Response> {
  const response = await fetch('/admin/v1/playground/chat/completions', {
    method: 'POST',
    credentials: 'same-origin',
    headers: headers(true),
    body: JSON.stringify(body),
    signal,
  });
  // As for every admin call: a 401 means the session ended (expired, or signed out in another tab).
  if (response.status === 401) {
    csrfToken = undefined;
    onSignedOut();
  }
  if (!response.ok) throw await errorOf(response);
  return response;
}

export async function resumeSession(): Promise<boolean> {
  const response = await fetch('/ui/session', { credentials: 'same-origin' });
  if (!response.ok) return false;
  csrfToken = ((await response.json()) as { csrf_token: string }).csrf_token;
  return true;
}

export async function signIn(adminKey: string): Promise<void> {
  const response = await fetch('/ui/session', {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ admin_key: adminKey }),
  });
  if (!response.ok) throw await errorOf(response);
  csrfToken = ((await response.json()) as { csrf_token: string }).csrf_token;
}

export async function signOut(): Promise<void> {
  await fetch('/ui/session', { method: 'DELETE', credentials: 'same-origin' });
  csrfToken = undefined;
}

/** Query string from the defined values. */
export function query(values: Record<string, string | number | undefined | null>): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(values)) if (value !== undefined && value !== null && value !== '') params.set(name, String(value));
  const text = params.toString();
  return text ? `?${text}` : '';
}

export interface ApiKey {
  id: string;
  name: string;
  workspace_id: string;
  redacted_value: string;
  status: string;
  allowed_models: string[] | null;
  created_at: number;
  expires_at: number | null;
  last_used_at: number | null;
  revoked_at: number | null;
  rotated_from: string | null;
  rotated_to: string | null;
}

export interface Workspace {
  id: string;
  name: string;
  tier: string;
  sandboxed: boolean;
  created_at: number;
}

export interface Tier {
  name: string;
  requests_per_minute: number | null;
  tokens_per_minute: number | null;
  concurrent_requests: number | null;
  monthly_token_budget: number | null;
  allowed_models: string[] | null;
}

export interface RequestRecord {
  audit_id: string;
  request_id: string;
  created_at: number;
  key_id: string | null;
  workspace_id: string | null;
  sandboxed: boolean;
  model: string;
  route: string;
  provider: string;
  stream: boolean;
  usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number; reasoning_tokens: number; cached_tokens: number };
  cost_usd: number;
  latency_ms: number;
  time_to_first_token_ms: number | null;
  status: string;
  error_code: string | null;
  [more: string]: unknown;
}

export interface SeriesPoint {
  start: number;
  requests: number;
  errors: number;
  prompt_tokens: number;
  completion_tokens: number;
  latency_p50_ms: number | null;
  latency_p95_ms: number | null;
}

export interface ModelState {
  id: string;
  provider: string;
  kind: string;
  loaded: boolean | null;
  circuit: string;
  consecutive_failures: number;
  recent_requests: number;
  recent_error_rate: number | null;
}
