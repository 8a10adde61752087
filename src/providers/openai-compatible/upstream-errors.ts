import { ClientAbortedError, SwitchyardError, UpstreamError } from '../../errors/errors.js';

/**
 * An upstream's error response in Switchyard's terms. A 4xx is the request's fault and reaches the
 * client as the upstream said it (OpenAI's shape, same status), except a 401/403: that is
 * Switchyard's own credentials refused, a 502 `upstream_auth_failed` (the client's key is fine, and
 * the upstream's message, which may quote the operator's key, stays here). A 5xx becomes a 502
 * (a 504 stays a timeout, a 503 unavailable) whose message names only the status: an upstream's
 * body may hold details that are not the client's business.
 */
export function errorFromUpstreamResponse(
  providerId: string,
  status: number,
  bodyText: string,
  retryAfterHeader: string | undefined,
): SwitchyardError {
  const retryAfterSeconds = parseRetryAfter(retryAfterHeader);
  if (status >= 500) {
    return new UpstreamError(
      status === 503 ? 'upstream_unavailable' : status === 504 ? 'upstream_timeout' : 'upstream_error',
      `The upstream provider '${providerId}' returned ${status}.`,
      retryAfterSeconds === undefined ? {} : { retryAfterSeconds },
    );
  }
  if (status === 401 || status === 403) {
    return new SwitchyardError('upstream_auth_failed', `The upstream provider '${providerId}' refused Switchyard's credentials (${status}); check its apiKey.`, {
      ...(retryAfterSeconds === undefined ? {} : { retryAfterSeconds }),
    });
  }
  const detail = readErrorBody(bodyText);
  const message = typeof detail.message === 'string' && detail.message ? detail.message : `The upstream provider '${providerId}' returned ${status}.`;
  const code = typeof detail.code === 'string' ? detail.code : status === 404 ? 'model_not_found' : status === 429 ? 'rate_limit_exceeded' : 'upstream_error';
  return new SwitchyardError(code, message, {
    status,
    type: typeof detail.type === 'string' ? detail.type : status === 429 ? 'rate_limit_error' : 'invalid_request_error',
    param: typeof detail.param === 'string' ? detail.param : null,
    ...(retryAfterSeconds === undefined ? {} : { retryAfterSeconds }),
  });
}

/**
 * A 200 whose body is an error object instead of the reply (OpenRouter, LiteLLM and other
 * gateways relay a provider's failure so; a stream asked and answered with a JSON error): the
 * error as if it had come with its status, the one its `code` gives when that is an HTTP status,
 * else a 502.
 */
export function errorFromErrorReply(providerId: string, bodyText: string, error: unknown): SwitchyardError {
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  const asNumber = typeof code === 'number' ? code : typeof code === 'string' && /^[45]\d\d$/.test(code) ? Number(code) : undefined;
  const status = asNumber !== undefined && asNumber >= 400 && asNumber <= 599 ? asNumber : 502;
  return errorFromUpstreamResponse(providerId, status, bodyText, undefined);
}

interface ErrorDetail {
  message?: unknown;
  type?: unknown;
  param?: unknown;
  code?: unknown;
}

/** The longest plain-text error body taken as the message (a longer one is a page, not a message). */
const MAX_TEXT_MESSAGE = 500;

/**
 * What an upstream's 4xx body says, in whichever shape it says it: OpenAI's `{"error": {…}}`;
 * `{"error": "text"}` (Ollama, llama-server's older builds); vLLM's older top-level
 * `{"object": "error", "message": …}`; FastAPI's `{"detail": "text"}` or its validation list
 * `{"detail": [{"loc": ["body", "field"], "msg": …}]}` (servers built on it, TGI's and vLLM's
 * routers, LiteLLM); or a short plain-text line. An HTML page (a proxy's) says nothing.
 */
function readErrorBody(bodyText: string): ErrorDetail {
  let parsed: { error?: unknown; message?: unknown; detail?: unknown; type?: unknown; param?: unknown; code?: unknown };
  try {
    parsed = JSON.parse(bodyText);
  } catch {
    const text = bodyText.trim();
    return text && text.length <= MAX_TEXT_MESSAGE && !text.startsWith('<') ? { message: text } : {};
  }
  if (!parsed || typeof parsed !== 'object') return {};
  if (typeof parsed.error === 'object' && parsed.error !== null) return withNestedDetail(parsed.error as ErrorDetail);
  if (typeof parsed.error === 'string') return { message: parsed.error };
  if (parsed.message !== undefined) return withNestedDetail({ message: parsed.message, type: parsed.type, param: parsed.param, code: parsed.code });
  return fromDetail(parsed.detail);
}

/** Mistral's API nests FastAPI's validation list as the message: `"message": {"detail": [...]}`. */
function withNestedDetail(error: ErrorDetail): ErrorDetail {
  if (typeof error.message !== 'object' || error.message === null) return error;
  const nested = fromDetail((error.message as { detail?: unknown }).detail);
  return { ...error, message: nested.message, param: typeof error.param === 'string' ? error.param : nested.param };
}

/** FastAPI's `detail`: a string, or a validation list whose first entry names the field (`loc`, after `body`). */
function fromDetail(detail: unknown): ErrorDetail {
  if (typeof detail === 'string') return { message: detail };
  if (!Array.isArray(detail) || detail.length === 0) return {};
  const messages: string[] = [];
  let param: string | undefined;
  for (const entry of detail as Array<{ loc?: unknown; msg?: unknown }>) {
    if (typeof entry?.msg !== 'string') continue;
    const loc = Array.isArray(entry.loc) ? entry.loc.filter((part, index) => !(index === 0 && part === 'body')) : [];
    const field = loc.map((part, index) => (typeof part === 'number' ? `[${part}]` : `${index === 0 ? '' : '.'}${String(part)}`)).join('');
    param ??= field || undefined;
    messages.push(field ? `${field}: ${entry.msg}` : entry.msg);
  }
  return messages.length === 0 ? {} : { message: messages.join('; '), param };
}

/** `retry-after` as seconds or an HTTP date. */
export function parseRetryAfter(value: string | undefined): number | undefined {
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, Math.ceil((date - Date.now()) / 1000));
}

/** A failure of the connection itself (refused, reset, timed out) in Switchyard's terms. */
export function errorFromTransport(providerId: string, error: unknown, signal: AbortSignal, during: 'request' | 'reply' = 'request'): SwitchyardError {
  if (signal.aborted) return new ClientAbortedError();
  if (error instanceof SwitchyardError) return error;
  const code = (error as { code?: string }).code ?? '';
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT') {
    return new UpstreamError('upstream_timeout', `The upstream provider '${providerId}' timed out.`, { cause: error });
  }
  // Once the reply had begun the upstream was reached: what failed is the connection, mid-reply.
  const message =
    during === 'reply' ? `The connection to the upstream provider '${providerId}' failed while its reply was being read.` : `Could not reach the upstream provider '${providerId}'.`;
  return new UpstreamError('upstream_error', message, { cause: error });
}
