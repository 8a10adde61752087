import { SwitchyardError, UpstreamError } from '../../errors/errors.js';
import { parseRetryAfter } from '../openai-compatible/upstream-errors.js';
import { ErrorBodySchema, type AnthropicErrorDetail } from './wire-schemas.js';

/*
 * Anthropic's errors (https://docs.anthropic.com/en/api/errors) in Switchyard's terms:
 *
 * | Anthropic                          | client sees                                           |
 * | ---------------------------------- | ----------------------------------------------------- |
 * | 400 invalid_request_error (any 4xx not below) | 400 `upstream_invalid_request`, Anthropic's message |
 * | 400 "prompt is too long" and kin   | 400 `context_length_exceeded`, param `messages`       |
 * | 401 authentication_error           | 502 `upstream_auth_failed` (Switchyard's key is bad)  |
 * | 402 billing_error                  | 502 `upstream_auth_failed` (Switchyard's account)     |
 * | 400 "credit balance is too low"    | 502 `upstream_auth_failed` (Switchyard's account)     |
 * | 403 permission_error               | 502 `upstream_auth_failed`                            |
 * | 404 not_found_error                | 404 `model_not_found`, Anthropic's message            |
 * | 413 request_too_large              | 413 `request_too_large`                               |
 * | 429 rate_limit_error               | 429 `rate_limit_exceeded`, with `retry-after`         |
 * | 500 api_error                      | 502 `upstream_error`                                  |
 * | 503, 529 overloaded_error          | 503 `upstream_unavailable`, with `retry-after`        |
 * | 504, timeouts                      | 504 `upstream_timeout`                                |
 *
 * A 5xx's message names the provider and the status only: the upstream's body is never relayed.
 * 401, 402 and 403 are Switchyard's credentials and account, not the client's: reporting them as
 * the client's own would send its user hunting for a key or billing problem they do not have, and
 * a 502 lets the router fall back to another backend.
 *
 * A prompt too long for the model's context is OpenAI's `context_length_exceeded` (400, param
 * `messages`), the code clients look for to trim a conversation. Anthropic tells it apart only by
 * its message ("prompt is too long: 208310 tokens > 200000 maximum", "input length and `max_tokens`
 * exceed context limit: 178959 + 64000 > 200000, ..."), so those are matched.
 */
const CONTEXT_EXCEEDED = /^prompt is too long\b|exceed(?:s)? context limit\b/i;

/*
 * An account out of credits is not reported as a 402 billing_error but as a 400 invalid_request_error:
 * "Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade
 * or purchase credits." Relayed as a 400 it would tell the client that its own request is at fault (and
 * its own balance low), and stop the router from falling back, so it is matched by its message.
 */
const CREDIT_BALANCE_LOW = /\bcredit balance is too low\b/i;

/** "max_tokens: 69632 > 64000, which is the maximum allowed number of output tokens for claude-sonnet-4-5-20250929". */
const OUTPUT_LIMIT = /^max_tokens: \d+ > (\d+), which is the maximum allowed number of output tokens\b/;

/** The model's output limit, when an error body is Anthropic refusing a max_tokens above it. */
export function refusedOutputLimit(bodyText: string): number | undefined {
  let message: string | undefined;
  try {
    const parsed = ErrorBodySchema.safeParse(JSON.parse(bodyText));
    message = parsed.success ? parsed.data.error.message : undefined;
  } catch {
    return undefined;
  }
  const limit = message === undefined ? undefined : OUTPUT_LIMIT.exec(message)?.[1];
  return limit === undefined ? undefined : Number(limit);
}

/** Status an `error` event's type stands for, to map it like an HTTP error. */
const STATUS_OF_TYPE: Record<string, number> = {
  invalid_request_error: 400,
  authentication_error: 401,
  permission_error: 403,
  not_found_error: 404,
  request_too_large: 413,
  rate_limit_error: 429,
  billing_error: 402,
  api_error: 500,
  timeout_error: 504,
  overloaded_error: 529,
};

export function errorFromAnthropicResponse(providerId: string, status: number, bodyText: string, retryAfterHeader: string | undefined): SwitchyardError {
  let detail: AnthropicErrorDetail = {};
  try {
    const parsed = ErrorBodySchema.safeParse(JSON.parse(bodyText));
    if (parsed.success) detail = parsed.data.error;
  } catch {
    // A proxy's HTML page: the status alone tells the story.
  }
  return errorFromAnthropicDetail(providerId, status, detail, parseRetryAfter(retryAfterHeader));
}

/** An `error` event inside a 200 stream, mapped by its type as the matching status would be. */
export function errorFromStreamEvent(providerId: string, detail: AnthropicErrorDetail): SwitchyardError {
  const type = detail.type ?? '';
  const status = Object.hasOwn(STATUS_OF_TYPE, type) ? STATUS_OF_TYPE[type]! : 500;
  return errorFromAnthropicDetail(providerId, status, detail, undefined, ' mid-stream');
}

function errorFromAnthropicDetail(
  providerId: string,
  status: number,
  detail: AnthropicErrorDetail,
  retryAfterSeconds: number | undefined,
  where = '',
): SwitchyardError {
  const retry = retryAfterSeconds === undefined ? {} : { retryAfterSeconds };
  const said = detail.message ? detail.message : `The upstream provider '${providerId}' returned ${status}${where}.`;
  if (status === 529 || status === 503 || detail.type === 'overloaded_error') {
    return new UpstreamError('upstream_unavailable', `The upstream provider '${providerId}' is overloaded${where} (${status}).`, retry);
  }
  if (status === 504) return new UpstreamError('upstream_timeout', `The upstream provider '${providerId}' timed out${where} (504).`, retry);
  if (status >= 500) return new UpstreamError('upstream_error', `The upstream provider '${providerId}' returned ${status}${where}.`, retry);
  if (status === 401 || status === 403) {
    return new SwitchyardError(
      'upstream_auth_failed',
      `The upstream provider '${providerId}' refused Switchyard's credentials (${status}${where}); check its apiKey.`,
      retry,
    );
  }
  if (status === 402 || detail.type === 'billing_error' || (status === 400 && detail.message && CREDIT_BALANCE_LOW.test(detail.message))) {
    return new SwitchyardError(
      'upstream_auth_failed',
      `The upstream provider '${providerId}' refused Switchyard's account for billing (${status}${where}); check the account's plan and credits.`,
      retry,
    );
  }
  if (status === 400 && detail.message && CONTEXT_EXCEEDED.test(detail.message)) {
    return new SwitchyardError('context_length_exceeded', detail.message, { param: 'messages', ...retry });
  }
  if (status === 404) return new SwitchyardError('model_not_found', said, { param: 'model', ...retry });
  if (status === 413) return new SwitchyardError('request_too_large', said, retry);
  if (status === 429) return new SwitchyardError('rate_limit_exceeded', said, { type: 'rate_limit_error', ...retry });
  return new SwitchyardError('upstream_invalid_request', said, { status, ...retry });
}
