import type { FastifyError } from 'fastify';
import type { ServerResponse, OutgoingHttpHeaders } from 'node:http';
import { SwitchyardError, toSwitchyardError } from '../errors/errors.js';

/** Fastify's own errors (body parsing, size) in OpenAI's words; everything else as it is. */
export function fromAnyError(error: unknown): SwitchyardError {
  if (error instanceof SwitchyardError) return error;
  const code = (error as FastifyError | undefined)?.code;
  switch (code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new SwitchyardError(
        'invalid_json',
        "We could not parse the JSON body of your request. The API expects a JSON payload, but what was sent was not valid JSON.",
      );
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new SwitchyardError('request_too_large', 'The request body is larger than this server accepts.');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new SwitchyardError('unsupported_media_type', 'The request body must be JSON (Content-Type: application/json).');
    default:
      // A SyntaxError from JSON.parse of a body with no content type.
      if (error instanceof SyntaxError) return fromAnyError({ code: 'FST_ERR_CTP_INVALID_JSON_BODY' });
      return toSwitchyardError(error);
  }
}

/**
 * Headers that go with an error: `retry-after` (and its millisecond form) when a wait helps;
 * `x-should-retry: false` when the upstream refused Switchyard's own credentials or account, which
 * the SDKs' automatic retries of a 5xx cannot mend.
 */
export function errorHeaders(error: SwitchyardError): Record<string, string> {
  if (error.code === 'upstream_auth_failed') return { 'x-should-retry': 'false' };
  if (error.retryAfterSeconds === undefined) return {};
  return {
    'retry-after': String(Math.ceil(error.retryAfterSeconds)),
    'retry-after-ms': String(Math.ceil(error.retryAfterSeconds * 1000)),
  };
}

/** An error response written straight onto a hijacked response (a stream that never started). */
export function writeRawError(response: ServerResponse, error: SwitchyardError, headers: OutgoingHttpHeaders): void {
  if (response.headersSent || response.destroyed) return;
  response.writeHead(error.status, { ...headers, ...errorHeaders(error), 'content-type': 'application/json' });
  response.end(JSON.stringify(error.toBody()));
}
