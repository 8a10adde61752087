/**
 * Property-based fuzzing of every endpoint's body, shared by the CI test (test/fuzz/) and the
 * benchmark mode (bench/fuzz.ts). Cases are generated with fast-check (seeded, reproducible) and
 * all run, whatever fails, so the counts by status are printed rather than stopping at the first.
 */
import fc from 'fast-check';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { buildServer, type Server } from '../../src/http/build-server.js';
import { parseConfig } from '../../src/config/load-config.js';
import { Platform } from '../../src/platform/platform.js';
import { StaticKeyAuthenticator } from '../../src/http/auth.js';

export const FUZZ_KEY = 'sk-fuzz-key-0123456789';
export const FUZZ_ADMIN_KEY = 'sk_admin_fuzz_0123456789abcdef0123456789';

export interface FuzzCase {
  /** Which generator made it (for the printed counts). */
  kind: string;
  method: 'POST' | 'PATCH';
  url: string;
  payload: Buffer;
  admin: boolean;
}

export interface FuzzTarget {
  server: Server;
  /** An existing workspace and key id, so that admin paths with ids reach their handlers. */
  workspaceId: string;
  keyId: string;
  close(): Promise<void>;
}

/** A server with the platform (SQLite in a temporary directory) and the sandbox, not listening. */
export async function startFuzzTarget(): Promise<FuzzTarget> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'switchyard-fuzz-'));
  const env = { SWITCHYARD_ADMIN_KEY: FUZZ_ADMIN_KEY, SWITCHYARD_SECRET: 'switchyard-fuzz-secret-0123456789' };
  const config = parseConfig({ store: { dataDir }, server: { logLevel: 'silent' }, usage: { flushIntervalMs: 200 } }, 'fuzz config', {});
  const platform = await Platform.open({ config, env, fallback: new StaticKeyAuthenticator([FUZZ_KEY]) });
  const server = await buildServer({ config, platform, env });
  await server.app.ready();
  const workspace = await platform.store.createWorkspace({ name: 'fuzz' });
  const key = await platform.store.createKey({ name: 'fuzz', workspaceId: workspace.id, allowedModels: null, limits: null, expiresAt: null });
  return {
    server,
    workspaceId: workspace.id,
    keyId: key.key.id,
    async close() {
      await server.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

// ——— Generators ———

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

const MODELS = ['sandbox/echo', 'sandbox/lorem', 'echo', 'fast', 'smart', 'balanced', 'nope/nothing', ''];
const TINY_PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=';

const text = fc.oneof(fc.string({ maxLength: 40 }), fc.string({ maxLength: 20, unit: 'binary' }), fc.constantFrom('', 'hi', 'Hello!', '\u0000', '\ud800', '💥'.repeat(10)));
const badBase64 = fc.oneof(
  fc.constantFrom('!!!', '====', 'a', 'abc', '%%%%', ' ', 'iVBORw0KGgo', `${TINY_PNG.slice(0, 30)}!`, '\u0000\u0001'),
  fc.string({ maxLength: 30 }),
);
const imageUrl = fc.oneof(
  fc.constant(`data:image/png;base64,${TINY_PNG}`),
  badBase64.map((data) => `data:image/png;base64,${data}`),
  fc.constantFrom('data:', 'data:image/png', 'data:;base64,', 'data:image/png;base64', 'data:text/plain;base64,aGk=', 'http://169.254.169.254/x.png', 'file:///etc/passwd', 'not a url', ''),
);
const imagePart = imageUrl.chain((url) =>
  fc.oneof(
    fc.constant({ type: 'image_url', image_url: { url } }),
    fc.constant({ type: 'image_url', image_url: { url, detail: 'high' } }),
    fc.constant({ type: 'image_url', image_url: url }),
  ),
);
const contentPart = fc.oneof(text.map((value) => ({ type: 'text', text: value })), imagePart);
const message = fc.oneof(
  fc.record({ role: fc.constantFrom('user', 'system', 'developer'), content: fc.oneof(text, fc.array(contentPart, { maxLength: 3 })) }),
  fc.record({ role: fc.constant('assistant'), content: fc.oneof(text, fc.constant(null)) }),
  fc.record({ role: fc.constant('tool'), content: text, tool_call_id: fc.constantFrom('call_1', '') }),
);
const tool = fc.record({
  type: fc.constant('function'),
  function: fc.record({ name: fc.constantFrom('lookup', 'get_weather', ''), parameters: fc.constantFrom({ type: 'object', properties: { q: { type: 'string' } } }, {}, { type: 'string' }) }),
});

const chatBody = fc.record(
  {
    model: fc.constantFrom(...MODELS),
    messages: fc.array(message, { minLength: 1, maxLength: 4 }),
    stream: fc.boolean(),
    stream_options: fc.constantFrom({ include_usage: true }, { include_usage: false }),
    max_tokens: fc.integer({ min: -5, max: 100 }),
    max_completion_tokens: fc.integer({ min: 0, max: 100 }),
    n: fc.integer({ min: 0, max: 4 }),
    temperature: fc.double({ min: -1, max: 3, noNaN: true }),
    top_p: fc.double({ min: 0, max: 1, noNaN: true }),
    seed: fc.integer(),
    stop: fc.oneof(text, fc.array(text, { maxLength: 5 })),
    tools: fc.array(tool, { maxLength: 2 }),
    tool_choice: fc.constantFrom('auto', 'none', 'required', { type: 'function', function: { name: 'lookup' } }),
    response_format: fc.constantFrom(
      { type: 'text' },
      { type: 'json_object' },
      { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'object', properties: { a: { type: 'integer' } }, required: ['a'] } } },
      { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'array', items: { $ref: '#' } } } },
    ),
    logprobs: fc.boolean(),
    user: text,
    metadata: fc.dictionary(fc.string({ maxLength: 8 }), fc.string({ maxLength: 8 }), { maxKeys: 3 }),
  },
  { requiredKeys: ['model', 'messages'] },
);

const embeddingsBody = fc.record(
  {
    model: fc.constantFrom(...MODELS),
    input: fc.oneof(text, fc.array(text, { maxLength: 4 }), fc.array(fc.integer({ min: -1, max: 100_000 }), { maxLength: 6 }), fc.array(fc.array(fc.nat(1000), { maxLength: 4 }), { maxLength: 3 })),
    encoding_format: fc.constantFrom('float', 'base64', 'hex'),
    dimensions: fc.integer({ min: -1, max: 4096 }),
    user: text,
  },
  { requiredKeys: ['model', 'input'] },
);

const responsesInputItem = fc.oneof(
  fc.record({ role: fc.constantFrom('user', 'system', 'developer', 'assistant'), content: fc.oneof(text, fc.array(fc.oneof(text.map((value) => ({ type: 'input_text', text: value })), imageUrl.map((url) => ({ type: 'input_image', image_url: url }))), { maxLength: 3 })) }),
  fc.record({ type: fc.constant('message'), role: fc.constant('user'), content: fc.array(text.map((value) => ({ type: 'input_text', text: value })), { maxLength: 2 }) }),
  fc.record({ type: fc.constant('function_call_output'), call_id: fc.constantFrom('call_1', ''), output: text }),
);
const responsesBody = fc.record(
  {
    model: fc.constantFrom(...MODELS),
    input: fc.oneof(text, fc.array(responsesInputItem, { maxLength: 3 })),
    instructions: text,
    stream: fc.boolean(),
    store: fc.boolean(),
    max_output_tokens: fc.integer({ min: -1, max: 100 }),
    temperature: fc.double({ min: -1, max: 3, noNaN: true }),
    previous_response_id: fc.constantFrom('resp_missing', ''),
    tools: fc.array(fc.record({ type: fc.constant('function'), name: fc.constantFrom('lookup', ''), parameters: fc.constant({ type: 'object', properties: {} }) }), { maxLength: 2 }),
    tool_choice: fc.constantFrom('auto', 'none', 'required'),
    text: fc.constantFrom({ format: { type: 'text' } }, { format: { type: 'json_object' } }, { format: { type: 'json_schema', name: 'x', schema: { type: 'object' } } }),
    reasoning: fc.constantFrom({ effort: 'low' }, { effort: 'high', summary: 'auto' }),
    metadata: fc.dictionary(fc.string({ maxLength: 8 }), fc.string({ maxLength: 8 }), { maxKeys: 3 }),
  },
  { requiredKeys: ['model', 'input'] },
);

const completionsBody = fc.record({ model: fc.constantFrom(...MODELS), prompt: fc.oneof(text, fc.array(text, { maxLength: 3 })), max_tokens: fc.integer({ min: 0, max: 50 }) }, { requiredKeys: ['model'] });

const limits = fc.record({ requests_per_minute: fc.oneof(fc.integer({ min: -1, max: 1000 }), fc.constant(null)), tokens_per_minute: fc.integer({ min: 0, max: 1_000_000 }), concurrent_requests: fc.integer({ min: 0, max: 10 }) }, { requiredKeys: [] });
const workspaceBody = fc.record({ name: text, tier: fc.constantFrom('free', 'pro', 'scale', 'gold', ''), sandboxed: fc.boolean() }, { requiredKeys: ['name'] });
const keyBody = fc.record(
  {
    name: text,
    test: fc.boolean(),
    allowed_models: fc.oneof(fc.constant(null), fc.array(fc.constantFrom('sandbox/*', '*', '', 'openai/gpt-4o'), { maxLength: 3 })),
    limits: fc.oneof(fc.constant(null), limits),
    expires_at: fc.integer({ min: -1, max: 4_000_000_000 }),
    expires_in_seconds: fc.integer({ min: -1, max: 10_000_000 }),
  },
  { requiredKeys: [] },
);
const rotateBody = fc.record({ grace_seconds: fc.integer({ min: -1, max: 100_000 }) }, { requiredKeys: [] });

/** An endpoint and the arbitrary of its valid-ish bodies. */
interface Endpoint {
  name: string;
  method: 'POST' | 'PATCH';
  url: (target: FuzzTarget) => string;
  body: fc.Arbitrary<unknown>;
  admin: boolean;
}

export function endpoints(): Endpoint[] {
  return [
    { name: 'chat', method: 'POST', url: () => '/v1/chat/completions', body: chatBody, admin: false },
    { name: 'chat (openai prefix)', method: 'POST', url: () => '/v1/openai/chat/completions', body: chatBody, admin: false },
    { name: 'embeddings', method: 'POST', url: () => '/v1/embeddings', body: embeddingsBody, admin: false },
    { name: 'responses', method: 'POST', url: () => '/v1/responses', body: responsesBody, admin: false },
    { name: 'completions', method: 'POST', url: () => '/v1/completions', body: completionsBody, admin: false },
    { name: 'admin workspaces', method: 'POST', url: () => '/admin/v1/workspaces', body: workspaceBody, admin: true },
    { name: 'admin workspace patch', method: 'PATCH', url: (target) => `/admin/v1/workspaces/${target.workspaceId}`, body: workspaceBody, admin: true },
    { name: 'admin keys', method: 'POST', url: () => '/admin/v1/keys', body: keyBody, admin: true },
    { name: 'admin key rotate', method: 'POST', url: (target) => `/admin/v1/keys/${target.keyId}/rotate`, body: rotateBody, admin: true },
  ];
}

/** Any JSON value, including the awkward ones. */
const anyValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.constantFrom(0, -1, 1e308, -0, 2 ** 53 + 1, 0.1, '', 'null', true, false, null, [], {}, [null], { '': null }, { __proto__: { polluted: true } }, { constructor: { prototype: { polluted: true } } }),
);

/** Deeply nested JSON as text (built as text: JSON.stringify itself would recurse that deep). */
function nested(depth: number, shape: 'array' | 'object'): string {
  return shape === 'array' ? `${'['.repeat(depth)}1${']'.repeat(depth)}` : `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
}

/** Every path into a JSON value, for mutations. */
function paths(value: unknown, prefix: Array<string | number> = [], out: Array<Array<string | number>> = []): Array<Array<string | number>> {
  out.push(prefix);
  if (Array.isArray(value)) value.forEach((item, index) => paths(item, [...prefix, index], out));
  else if (value !== null && typeof value === 'object') for (const [key, item] of Object.entries(value)) paths(item, [...prefix, key], out);
  return out;
}

function setAt(root: unknown, at: Array<string | number>, replacement: unknown, remove: boolean): unknown {
  if (at.length === 0) return replacement;
  const copy = structuredClone(root) as Record<string | number, unknown>;
  let node = copy as Record<string | number, unknown>;
  for (const step of at.slice(0, -1)) node = node[step] as Record<string | number, unknown>;
  const last = at[at.length - 1]!;
  if (remove && Array.isArray(node)) node.splice(Number(last), 1);
  else if (remove) delete node[last];
  else node[last] = replacement;
  return copy;
}

const PLACEHOLDER = '\u2060@@SLOT@@\u2060';
/** Byte sequences that are not UTF-8: lone continuation, truncated, overlong, surrogates, 0xFF. */
const INVALID_UTF8 = [[0xff], [0x80], [0xc3], [0xe2, 0x82], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80], [0xfe, 0xfe, 0xff, 0xff]];

type Mutation =
  | { type: 'none' }
  | { type: 'replace'; pick: number; value: unknown }
  | { type: 'delete'; pick: number }
  | { type: 'add'; key: string; value: unknown }
  | { type: 'huge'; pick: number; size: number }
  | { type: 'deep'; pick: number; depth: number; shape: 'array' | 'object' }
  | { type: 'invalid-utf8'; pick: number; bytes: number; where: 'value' | 'key' | 'structure' }
  | { type: 'raw'; text: string }
  | { type: 'truncate'; fraction: number }
  | { type: 'deep-body'; depth: number; shape: 'array' | 'object' };

function mutations(huge: boolean): fc.Arbitrary<Mutation> {
  const pick = fc.nat();
  const options: Array<fc.WeightedArbitrary<Mutation>> = [
    { weight: 3, arbitrary: fc.constant<Mutation>({ type: 'none' }) },
    { weight: 6, arbitrary: fc.record({ type: fc.constant('replace' as const), pick, value: anyValue }) },
    { weight: 3, arbitrary: fc.record({ type: fc.constant('delete' as const), pick }) },
    { weight: 2, arbitrary: fc.record({ type: fc.constant('add' as const), key: fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom('__proto__', 'constructor', 'prototype')), value: anyValue }) },
    { weight: 2, arbitrary: fc.record({ type: fc.constant('deep' as const), pick, depth: fc.constantFrom(100, 1_000, 10_000), shape: fc.constantFrom('array' as const, 'object' as const) }) },
    { weight: 2, arbitrary: fc.record({ type: fc.constant('invalid-utf8' as const), pick, bytes: fc.nat(INVALID_UTF8.length - 1), where: fc.constantFrom('value' as const, 'key' as const, 'structure' as const) }) },
    { weight: 1, arbitrary: fc.record({ type: fc.constant('raw' as const), text: fc.oneof(fc.string({ maxLength: 60 }), fc.constantFrom('', 'null', '[]', '"str"', '1', '{', '{"model":', '\u0000', 'true', '{"a":1}{"b":2}')) }) },
    { weight: 1, arbitrary: fc.record({ type: fc.constant('truncate' as const), fraction: fc.double({ min: 0, max: 0.99, noNaN: true }) }) },
    { weight: 1, arbitrary: fc.record({ type: fc.constant('deep-body' as const), depth: fc.constantFrom(1_000, 10_000, 100_000), shape: fc.constantFrom('array' as const, 'object' as const) }) },
  ];
  if (huge) options.push({ weight: 1, arbitrary: fc.record({ type: fc.constant('huge' as const), pick, size: fc.constantFrom(100_000, 1_000_000, 4_000_000) }) });
  return fc.oneof(...options);
}

/** The request bytes for a body and a mutation; the mutation's name is the case's kind. */
function applyMutation(body: unknown, mutation: Mutation): { payload: Buffer; kind: string } {
  const all = paths(body);
  const at = (pick: number) => all[pick % all.length]!;
  // A path below the root, when there is one, so that the body stays an object.
  const inner = (pick: number) => (all.length > 1 ? all[1 + (pick % (all.length - 1))]! : all[0]!);
  const json = (value: unknown) => Buffer.from(JSON.stringify(value) ?? 'null');
  switch (mutation.type) {
    case 'none':
      return { payload: json(body), kind: 'valid' };
    case 'replace':
      return { payload: json(setAt(body, at(mutation.pick), mutation.value, false)), kind: 'wrong type/value' };
    case 'delete':
      return { payload: json(setAt(body, inner(mutation.pick), undefined, true)), kind: 'missing field' };
    case 'add':
      return { payload: Buffer.from(JSON.stringify(body).replace(/^\{/, `{${JSON.stringify(mutation.key)}:${JSON.stringify(mutation.value) ?? 'null'}${JSON.stringify(body) === '{}' ? '' : ','}`)), kind: 'extra field' };
    case 'huge':
      return { payload: json(setAt(body, inner(mutation.pick), 'x'.repeat(mutation.size), false)), kind: 'huge string' };
    case 'deep': {
      const marked = JSON.stringify(setAt(body, inner(mutation.pick), PLACEHOLDER, false));
      return { payload: Buffer.from(marked.replace(JSON.stringify(PLACEHOLDER), nested(mutation.depth, mutation.shape))), kind: 'deep nesting' };
    }
    case 'invalid-utf8': {
      const bytes = Buffer.from(INVALID_UTF8[mutation.bytes]!);
      const marked =
        mutation.where === 'key'
          ? JSON.stringify(body).replace(/^\{/, `{${JSON.stringify(PLACEHOLDER)}:1${JSON.stringify(body) === '{}' ? '' : ','}`)
          : JSON.stringify(setAt(body, inner(mutation.pick), `a${PLACEHOLDER}b`, false));
      const [before, afterSlot] = marked.split(PLACEHOLDER) as [string, string];
      if (mutation.where === 'structure') return { payload: Buffer.concat([Buffer.from(marked.slice(0, 1)), bytes, Buffer.from(marked.slice(1))]), kind: 'invalid utf-8' };
      return { payload: Buffer.concat([Buffer.from(before), bytes, Buffer.from(afterSlot ?? '')]), kind: 'invalid utf-8' };
    }
    case 'raw':
      return { payload: Buffer.from(mutation.text), kind: 'raw garbage' };
    case 'truncate': {
      const full = json(body);
      return { payload: full.subarray(0, Math.floor(full.length * mutation.fraction)), kind: 'truncated json' };
    }
    case 'deep-body':
      return { payload: Buffer.from(nested(mutation.depth, mutation.shape)), kind: 'deep nesting' };
    default: {
      const never: never = mutation;
      throw new Error(`unknown mutation ${JSON.stringify(never)}`);
    }
  }
}

/** The arbitrary of whole cases for a target: an endpoint, a body, a mutation (or two). */
export function fuzzCases(target: FuzzTarget, options: { huge: boolean }): fc.Arbitrary<FuzzCase> {
  return fc.oneof(
    ...endpoints().map((endpoint) =>
      fc.tuple(endpoint.body, mutations(options.huge), fc.boolean(), mutations(false)).map(([body, first, twice, second]): FuzzCase => {
        // A second mutation on top of the first, sometimes: mutated-then-mutated valid requests.
        const once = applyMutation(body, first);
        let { payload, kind } = once;
        if (twice && first.type === 'replace' && second.type !== 'huge') {
          try {
            const again = applyMutation(JSON.parse(payload.toString('utf8')) as Json, second);
            payload = again.payload;
            kind = `${kind} + ${again.kind}`;
          } catch {
            // Not JSON any more: keep the first mutation alone.
          }
        }
        return { kind, method: endpoint.method, url: endpoint.url(target), payload, admin: endpoint.admin };
      }),
    ),
  );
}

// ——— Running and judging ———

export interface FuzzReport {
  cases: number;
  byStatus: Map<number, number>;
  byKind: Map<string, number>;
  byEndpoint: Map<string, number>;
  /** Responses that broke a rule, with the case that caused each (the first few kept whole). */
  failures: Array<{ rule: string; fuzzCase: FuzzCase; status: number; body: string }>;
  failureCount: number;
  /** Error codes seen without a `param` (reported, judged by `PARAM_REQUIRED`). */
  paramless: Map<string, number>;
  ms: number;
}

/** Codes that are always about one field: their errors must name it in `param`. */
const PARAM_REQUIRED = new Set(['invalid_type', 'missing_required_parameter', 'unknown_parameter', 'unsupported_parameter', 'model_not_found', 'previous_response_not_found']);

function isOpenAIError(value: unknown): value is { error: { message: string; type: string; param: string | null; code: string | null } } {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  if (Object.keys(value).join() !== 'error') return false;
  const error = (value as { error: unknown }).error;
  if (error === null || typeof error !== 'object') return false;
  const keys = Object.keys(error).sort().join();
  if (keys !== 'code,message,param,type') return false;
  const { message, type, param, code } = error as Record<string, unknown>;
  return typeof message === 'string' && message.length > 0 && typeof type === 'string' && (param === null || typeof param === 'string') && (code === null || typeof code === 'string');
}

function isJsonObject(payload: Buffer): boolean {
  try {
    const value: unknown = JSON.parse(payload.toString('utf8'));
    return value !== null && typeof value === 'object' && !Array.isArray(value);
  } catch {
    return false;
  }
}

/** Runs cases one by one through `app.inject()` and judges every response. */
export async function runCases(target: FuzzTarget, cases: Iterable<FuzzCase>, report: FuzzReport = newReport()): Promise<FuzzReport> {
  const started = performance.now();
  const { app } = target.server;
  for (const fuzzCase of cases) {
    const response = await app.inject({
      method: fuzzCase.method,
      url: fuzzCase.url,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${fuzzCase.admin ? FUZZ_ADMIN_KEY : FUZZ_KEY}` },
      payload: fuzzCase.payload,
    });
    report.cases++;
    report.byStatus.set(response.statusCode, (report.byStatus.get(response.statusCode) ?? 0) + 1);
    report.byKind.set(fuzzCase.kind, (report.byKind.get(fuzzCase.kind) ?? 0) + 1);
    const endpointName = `${fuzzCase.method} ${fuzzCase.url.replace(/(ws|key)_[A-Za-z0-9]+/, ':id')}`;
    report.byEndpoint.set(endpointName, (report.byEndpoint.get(endpointName) ?? 0) + 1);
    const fail = (rule: string) => {
      report.failureCount++;
      if (report.failures.length < 20) report.failures.push({ rule, fuzzCase, status: response.statusCode, body: response.body.slice(0, 500) });
    };
    if (response.statusCode >= 500) fail(`status ${response.statusCode}`);
    const contentType = String(response.headers['content-type'] ?? '');
    if (contentType.startsWith('text/event-stream')) {
      // A stream: every error event inside it is OpenAI-shaped too.
      for (const line of response.body.split('\n')) {
        if (!line.startsWith('data: ') || line === 'data: [DONE]') continue;
        let event: unknown;
        try {
          event = JSON.parse(line.slice(6));
        } catch {
          fail('stream event is not JSON');
          continue;
        }
        const error = (event as { error?: unknown }).error;
        if (error !== undefined && (event as { type?: string }).type === undefined && !isOpenAIError(event)) fail('stream error event not OpenAI-shaped');
      }
      continue;
    }
    if (response.statusCode < 400) continue;
    let body: unknown;
    try {
      body = JSON.parse(response.body);
    } catch {
      fail('error body is not JSON');
      continue;
    }
    if (!isOpenAIError(body)) {
      fail('error body not OpenAI-shaped');
      continue;
    }
    const { param, code } = body.error;
    if (param === null) {
      report.paramless.set(String(code), (report.paramless.get(String(code)) ?? 0) + 1);
      // A body that is not a JSON object at all has no field to name.
      if (PARAM_REQUIRED.has(String(code)) && isJsonObject(fuzzCase.payload)) fail(`${code} without param`);
    }
  }
  report.ms += performance.now() - started;
  return report;
}

export function newReport(): FuzzReport {
  return { cases: 0, byStatus: new Map(), byKind: new Map(), byEndpoint: new Map(), failures: [], failureCount: 0, paramless: new Map(), ms: 0 };
}

const sorted = <K>(map: Map<K, number>) => [...map.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1));

/** The counts, one figure a line. */
export function formatReport(report: FuzzReport): string {
  const lines = [
    `fuzz: ${report.cases} cases in ${(report.ms / 1000).toFixed(1)} s, ${report.failureCount} rule violations, ${report.byStatus.get(500) ?? 0} responses of 500`,
    `  by status: ${sorted(report.byStatus).map(([status, count]) => `${status}: ${count}`).join(', ')}`,
    `  by kind: ${sorted(report.byKind).map(([kind, count]) => `${kind}: ${count}`).join(', ')}`,
    `  by endpoint: ${sorted(report.byEndpoint).map(([name, count]) => `${name}: ${count}`).join(', ')}`,
    `  errors without param, by code: ${sorted(report.paramless).map(([code, count]) => `${code}: ${count}`).join(', ') || 'none'}`,
  ];
  for (const failure of report.failures.slice(0, 5)) {
    const payload = failure.fuzzCase.payload.length > 300 ? `${failure.fuzzCase.payload.subarray(0, 300).toString('utf8')}… (${failure.fuzzCase.payload.length} bytes)` : failure.fuzzCase.payload.toString('utf8');
    lines.push(`  ✗ ${failure.rule}: ${failure.fuzzCase.method} ${failure.fuzzCase.url} [${failure.fuzzCase.kind}] → ${failure.status} ${failure.body}\n      payload: ${payload}`);
  }
  return lines.join('\n');
}

/** `n` cases from a seed, generated lazily in batches (fast-check's own sampler). */
export function* sampleCases(target: FuzzTarget, n: number, seed: number, options: { huge: boolean }): Generator<FuzzCase> {
  const arbitrary = fuzzCases(target, options);
  const batch = 1_000;
  for (let done = 0; done < n; done += batch) {
    yield* fc.sample(arbitrary, { numRuns: Math.min(batch, n - done), seed: seed + done });
  }
}
