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
  let detail: { message?: unknown; type?: unknown; param?: unknown; code?: unknown } = {};
  try {
    const parsed = JSON.parse(bodyText) as { error?: unknown; message?: unknown };
    if (parsed && typeof parsed.error === 'object' && parsed.error !== null) detail = parsed.error as typeof detail;
    else if (typeof parsed.error === 'string') detail = { message: parsed.error };
    else if (typeof parsed.message === 'string') detail = { message: parsed.message };
  } catch {
    // A non-JSON error body (a proxy's HTML page): the status alone tells the story.
  }
  const message = typeof detail.message === 'string' && detail.message ? detail.message : `The upstream provider '${providerId}' returned ${status}.`;
  const code = typeof detail.code === 'string' ? detail.code : status === 404 ? 'model_not_found' : status === 429 ? 'rate_limit_exceeded' : 'upstream_error';
  return new SwitchyardError(code, message, {
    status,
    type: typeof detail.type === 'string' ? detail.type : status === 429 ? 'rate_limit_error' : 'invalid_request_error',
    param: typeof detail.param === 'string' ? detail.param : null,
    ...(retryAfterSeconds === undefined ? {} : { retryAfterSeconds }),
  });
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
