/**
 * Every error code Switchyard puts in `error.code`, with the status and `error.type` it travels with.
 * docs/errors.md lists each one; a test fails when a code here is missing there.
 */
export const ERROR_CODES = {
  invalid_json: { status: 400, type: 'invalid_request_error' },
  invalid_value: { status: 400, type: 'invalid_request_error' },
  invalid_type: { status: 400, type: 'invalid_request_error' },
  missing_required_parameter: { status: 400, type: 'invalid_request_error' },
  unknown_parameter: { status: 400, type: 'invalid_request_error' },
  unsupported_parameter: { status: 400, type: 'invalid_request_error' },
  previous_response_not_found: { status: 400, type: 'invalid_request_error' },
  invalid_image: { status: 400, type: 'invalid_request_error' },
  image_too_large: { status: 400, type: 'invalid_request_error' },
  invalid_image_url: { status: 400, type: 'invalid_request_error' },
  image_url_not_allowed: { status: 400, type: 'invalid_request_error' },
  image_input_not_supported: { status: 400, type: 'invalid_request_error' },
  invalid_api_key: { status: 401, type: 'invalid_request_error' },
  permission_denied: { status: 403, type: 'permission_error' },
  model_not_allowed: { status: 403, type: 'permission_error' },
  model_not_found: { status: 404, type: 'invalid_request_error' },
  unknown_url: { status: 404, type: 'invalid_request_error' },
  endpoint_not_served: { status: 404, type: 'invalid_request_error' },
  not_found: { status: 404, type: 'invalid_request_error' },
  request_too_large: { status: 413, type: 'invalid_request_error' },
  unsupported_media_type: { status: 415, type: 'invalid_request_error' },
  rate_limit_exceeded: { status: 429, type: 'rate_limit_error' },
  model_overloaded: { status: 429, type: 'rate_limit_error' },
  context_length_exceeded: { status: 400, type: 'invalid_request_error' },
  model_file_error: { status: 503, type: 'server_error' },
  model_pull_failed: { status: 503, type: 'server_error' },
  model_load_timeout: { status: 503, type: 'server_error' },
  insufficient_quota: { status: 429, type: 'insufficient_quota' },
  server_error: { status: 500, type: 'server_error' },
  upstream_error: { status: 502, type: 'server_error' },
  upstream_auth_failed: { status: 502, type: 'server_error' },
  upstream_invalid_request: { status: 400, type: 'invalid_request_error' },
  upstream_unavailable: { status: 503, type: 'server_error' },
  upstream_timeout: { status: 504, type: 'server_error' },
  stream_interrupted: { status: 502, type: 'server_error' },
  client_closed_request: { status: 499, type: 'invalid_request_error' },
} as const satisfies Record<string, { status: number; type: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;
