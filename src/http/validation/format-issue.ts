import type { z } from 'zod';
import { ValidationError } from '../../errors/errors.js';

type Issue = z.core.$ZodIssue;
type Path = ReadonlyArray<PropertyKey>;

/** The body as a JSON object, or the 400 every route gives for any other body. */
export function jsonObjectBody(body: unknown): Record<string, unknown> {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new ValidationError('The request body must be a JSON object.', null, 'invalid_type');
  }
  return body as Record<string, unknown>;
}

/** `['messages', 2, 'content']` → `messages[2].content`, the way OpenAI names a `param`. */
export function formatParam(path: Path): string | null {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out ? `.${String(part)}` : String(part);
  }
  return out || null;
}

/** The value at `path` inside `root`, or undefined where the path leads nowhere. */
export function valueAt(root: unknown, path: Path): unknown {
  let value = root;
  for (const part of path) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<PropertyKey, unknown>)[part];
  }
  return value;
}

function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'an integer' : 'a number';
  if (typeof value === 'object') return 'an object';
  return `a ${typeof value}`;
}

const ARTICLES: Record<string, string> = {
  string: 'a string', number: 'a number', int: 'an integer', boolean: 'a boolean', array: 'an array',
  object: 'an object', record: 'an object', null: 'null',
};

const QUOTE_LIMIT = 200;

/**
 * A value as an error message shows it, cut short: a client's megabyte string is not echoed back
 * whole, and a value nested too deeply to serialize (10,000 levels overflow the stack) is described.
 */
function quote(value: unknown): string {
  let text: string;
  try {
    text = typeof value === 'string' ? `'${value}'` : (JSON.stringify(value) ?? String(value));
  } catch {
    return describeType(value);
  }
  return text.length > QUOTE_LIMIT ? `${text.slice(0, QUOTE_LIMIT)}…` : text;
}

/**
 * Picks, among the failed branches of a union, the one the input came closest to matching: a branch
 * that failed deeper than the top level matched the input's shape and so explains it best.
 */
function explainUnion(issue: Extract<Issue, { code: 'invalid_union' }>, at: Path, body: unknown): ValidationError {
  if ('discriminator' in issue && issue.discriminator !== undefined && issue.errors.length === 0) {
    const options = ((issue as { options?: unknown[] }).options ?? []).map(quote).join(', ');
    const value = valueAt(body, at);
    return new ValidationError(
      value === undefined
        ? `Missing required parameter: '${formatParam(at)}'.`
        : `Invalid value for '${formatParam(at)}': ${quote(value)}. Supported values are: ${options}.`,
      formatParam(at),
      value === undefined ? 'missing_required_parameter' : 'invalid_value',
    );
  }
  if (valueAt(body, at) === undefined) {
    return new ValidationError(`Missing required parameter: '${formatParam(at)}'.`, formatParam(at), 'missing_required_parameter');
  }
  const branches = issue.errors.filter((branch) => branch.length > 0);
  const shallow = (branch: Issue[]) => branch[0]!.path.length === 0 && (branch[0]!.code === 'invalid_type' || branch[0]!.code === 'invalid_value');
  const matching = branches.filter((branch) => !shallow(branch));
  if (matching.length > 0) {
    // Object branches told apart by one literal field (`type`), each refusing the value given:
    // the value is wrong for all of them, and the message lists every value they take.
    const firsts = matching.map((branch) => branch[0]!);
    const samePath = (issue: Issue) => issue.path.length === firsts[0]!.path.length && issue.path.every((key, index) => key === firsts[0]!.path[index]);
    if (firsts.length > 1 && firsts.every((issue) => issue.code === 'invalid_value' && samePath(issue))) {
      const values = [...new Set(firsts.flatMap((issue) => (issue as Extract<Issue, { code: 'invalid_value' }>).values))];
      return explainIssue({ ...(firsts[0] as Extract<Issue, { code: 'invalid_value' }>), values }, at, body);
    }
    const best = matching.reduce((a, b) => (b[0]!.path.length > a[0]!.path.length ? b : a));
    return explainIssue(best[0]!, at, body);
  }
  const expected = branches.map((branch) => {
    const first = branch[0]!;
    if (first.code === 'invalid_type') return ARTICLES[first.expected] ?? first.expected;
    if (first.code === 'invalid_value') return first.values.map(quote).join(', ');
    return 'a valid value';
  });
  const value = valueAt(body, at);
  return new ValidationError(
    `Invalid type for '${formatParam(at)}': expected one of ${[...new Set(expected)].join(' or ')}, but got ${describeType(value)} instead.`,
    formatParam(at),
    'invalid_type',
  );
}

/** One zod issue as the 400 OpenAI would give: a message in its words and the `param` it names. */
export function explainIssue(issue: Issue, base: Path, body: unknown): ValidationError {
  const at = [...base, ...issue.path];
  const param = formatParam(at);
  const value = valueAt(body, at);
  switch (issue.code) {
    case 'invalid_union':
      return explainUnion(issue, at, body);
    case 'invalid_type':
      if (value === undefined) return new ValidationError(`Missing required parameter: '${param}'.`, param, 'missing_required_parameter');
      // JSON reads a number too large for a double (`1e400`) as Infinity: it is a number, just out of range.
      if (typeof value === 'number' && !Number.isFinite(value)) {
        return new ValidationError(`Invalid value for '${param}': the number is out of range (too large to represent).`, param);
      }
      return new ValidationError(
        `Invalid type for '${param}': expected ${ARTICLES[issue.expected] ?? issue.expected}, but got ${describeType(value)} instead.`,
        param,
        'invalid_type',
      );
    case 'too_small':
    case 'too_big': {
      const bound = issue.code === 'too_small' ? issue.minimum : issue.maximum;
      // `positive()` is `> 0` (exclusive): "greater than or equal to 0" would ask for the 0 it refused.
      const strict = issue.inclusive === false;
      const relation = issue.code === 'too_small' ? (strict ? 'greater than' : 'greater than or equal to') : strict ? 'less than' : 'less than or equal to';
      const what =
        issue.origin === 'array'
          ? `an array with ${issue.code === 'too_small' ? 'at least' : 'at most'} ${String(bound)} item(s)`
          : issue.origin === 'string'
            ? `a string with ${issue.code === 'too_small' ? 'at least' : 'at most'} ${String(bound)} character(s)`
            : `a value ${relation} ${String(bound)}`;
      const shown = Array.isArray(value) ? `an array with ${value.length} items` : quote(value);
      return new ValidationError(`Invalid value for '${param}': expected ${what}, but got ${shown} instead.`, param);
    }
    case 'invalid_value':
      return new ValidationError(
        `Invalid value for '${param}': ${quote(value)}. Supported values are: ${issue.values.map(quote).join(', ')}.`,
        param,
      );
    case 'invalid_format':
    case 'custom':
    case 'not_multiple_of':
      return new ValidationError(`Invalid value for '${param}': ${issue.message}.`, param);
    case 'invalid_key':
      return new ValidationError(`Invalid key in '${param}': ${issue.issues[0]?.message ?? issue.message}.`, param);
    case 'invalid_element':
      return new ValidationError(`Invalid element in '${param}': ${issue.issues[0]?.message ?? issue.message}.`, param);
    case 'unrecognized_keys':
      return new ValidationError(`Unrecognized request argument supplied: ${issue.keys.join(', ')}.`, param, 'unknown_parameter');
    default: {
      const unexpected: never = issue;
      void unexpected;
      return new ValidationError(`Invalid value for '${param}'.`, param);
    }
  }
}
