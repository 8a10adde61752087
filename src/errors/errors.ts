import { ERROR_CODES, type ErrorCode } from './codes.js';

/** OpenAI's error body: all four keys always present, `null` where empty. */
export interface OpenAIErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

export interface SwitchyardErrorOptions {
  param?: string | null;
  /** Overrides the status that goes with the code (an upstream's 4xx passed through as it was). */
  status?: number;
  /** Overrides `error.type` (an upstream's own type passed through). */
  type?: string;
  /** Seconds the client should wait before retrying; sent as `retry-after`. */
  retryAfterSeconds?: number;
  cause?: unknown;
}

/**
 * The one error type of the server. It knows its HTTP status, OpenAI `type`, `param` and whether
 * a retry can help, so every layer can throw it and one handler turns it into OpenAI's shape.
 */
export class SwitchyardError extends Error {
  readonly code: ErrorCode | (string & {});
  readonly status: number;
  readonly type: string;
  readonly param: string | null;
  readonly retryAfterSeconds: number | undefined;

  constructor(code: ErrorCode | (string & {}), message: string, options: SwitchyardErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    const known = ERROR_CODES[code as ErrorCode] as { status: number; type: string } | undefined;
    this.name = 'SwitchyardError';
    this.code = code;
    this.status = options.status ?? known?.status ?? 500;
    this.type = options.type ?? known?.type ?? 'server_error';
    this.param = options.param ?? null;
    this.retryAfterSeconds = options.retryAfterSeconds;
  }

  /** Worth retrying on another attempt or another backend: rate limits and server-side faults. */
  get retryable(): boolean {
    return this.status === 429 || this.status >= 500;
  }

  toBody(): OpenAIErrorBody {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

/** A request that fails validation: 400, with `param` naming the field (`messages[2].content`). */
export class ValidationError extends SwitchyardError {
  constructor(message: string, param: string | null, code: ErrorCode = 'invalid_value') {
    super(code, message, { param });
    this.name = 'ValidationError';
  }
}

/**
 * A feature the chosen backend cannot express: a clear 400 rather than a silent drop. The backend's
 * gap, not the request's fault: an alias goes on to its next target, which may have the feature.
 */
export class UnsupportedFeatureError extends SwitchyardError {
  readonly targetLacksFeature = true;

  constructor(message: string, param: string | null) {
    super('unsupported_parameter', message, { param });
    this.name = 'UnsupportedFeatureError';
  }
}

/** A fault of the backend (5xx, timeout, connection): retryable, and a reason to fall back. */
export class UpstreamError extends SwitchyardError {
  constructor(
    code: 'upstream_error' | 'upstream_unavailable' | 'upstream_timeout' | 'stream_interrupted',
    message: string,
    options: SwitchyardErrorOptions = {},
  ) {
    super(code, message, options);
    this.name = 'UpstreamError';
  }
}

/** The client went away; nothing is sent, the backend is cancelled. */
export class ClientAbortedError extends SwitchyardError {
  constructor() {
    super('client_closed_request', 'The client closed the request.');
    this.name = 'ClientAbortedError';
  }
}

/** Any thrown value as a SwitchyardError; unknown faults become a 500 that leaks nothing. */
export function toSwitchyardError(error: unknown): SwitchyardError {
  if (error instanceof SwitchyardError) return error;
  return new SwitchyardError('server_error', 'The server had an error while processing your request.', {
    cause: error,
  });
}
