import { UnsupportedFeatureError } from '../errors/errors.js';
import type { ChatRequest } from './provider.js';

/** Builds the 400 a backend answers for a parameter it cannot honour, naming the backend and the param. */
export function unsupportedBy(backend: string): (param: string, what: string) => UnsupportedFeatureError {
  return (param, what) => new UnsupportedFeatureError(`${backend} does not support ${what} ('${param}').`, param);
}

/**
 * Audio output and the legacy `functions` / `function_call` pair: what neither the engine nor
 * Anthropic can produce, refused rather than silently answered with text.
 */
export function rejectAudioAndLegacyFunctions(request: ChatRequest, unsupported: ReturnType<typeof unsupportedBy>): void {
  if (request.audio != null) throw unsupported('audio', 'audio output');
  if (request.modalities?.includes('audio')) throw unsupported('modalities', 'audio output');
  if (request.functions != null || request.function_call != null) {
    throw unsupported(request.functions != null ? 'functions' : 'function_call', "legacy functions (use 'tools')");
  }
}
