import { UnsupportedFeatureError, ValidationError } from '../../errors/errors.js';

/**
 * What the sandbox will generate for one schema, in rough units of work (an item, a property, ten
 * characters of a string): about 5 µs each with json-schema-faker, which runs on the event loop.
 * 20,000 units keep the worst reply near 100 ms; a schema whose smallest instance is larger (an
 * array of `minItems: 3000000`, a string of `minLength: 50000000`) would hold the whole server for
 * seconds to minutes and is refused up front.
 */
const BUDGET = 20_000;
/**
 * The most items json-schema-faker picks for an array at random (its `maxItems` option: it never
 * goes below a schema's `minItems`), so at most this many past `minItems`.
 */
export const RANDOM_ITEMS_CAP = 5;
const MAX_DEPTH = 64;

/** Local `$ref`s followed this many deep; json-schema-faker stops recursing soon after (its depth limit is 5). */
const MAX_REF_HOPS = 4;

/**
 * Schemas the sandbox walks to price: each `$ref` may fan out again, so the walk itself is capped
 * (a schema whose properties all point back at it costs fan-out^4 visits otherwise).
 */
const MAX_VISITS = 100_000;

/**
 * What one request may make the sandbox generate, across all its choices (`n`) and tool calls:
 * each schema instance is priced before it is made, and the request is refused once the sum
 * passes the budget. Prices are kept per schema, so pricing the same schema for every choice
 * costs one walk.
 */
export class InstanceBudget {
  private spent = 0;
  private readonly prices = new Map<unknown, number>();

  spend(schema: unknown, param: string): void {
    let price = this.prices.get(schema);
    if (price === undefined) {
      price = instanceCostOf(schema, param);
      this.prices.set(schema, price);
    }
    this.spent += price;
    if (this.spent > BUDGET) {
      throw new ValidationError(
        price > BUDGET
          ? `Invalid schema for '${param}': its smallest instance is too large for the sandbox to produce (minItems, minLength, minProperties or pattern repetitions too high).`
          : `Invalid schema for '${param}': the instances this request asks for (one per choice and tool call) are too large together for the sandbox to produce; ask for fewer choices (n) or smaller schemas.`,
        param,
      );
    }
  }
}

function instanceCostOf(schema: unknown, param: string): number {
  const patterns = everyPattern(schema, param, 0);
  return patterns + instanceCost(schema, 0, param, { root: schema, defs: definitions(schema), hops: 0, visits: { count: 0 } });
}

/** What a node's `pattern` costs to generate once, in budget units. */
function patternCost(node: Record<string, unknown>): number {
  if (typeof node.pattern !== 'string') return 0;
  // Generated again, up to 51 times, while a minLength or maxLength turns the tries down.
  const tries = node.minLength !== undefined || node.maxLength !== undefined ? 51 : 1;
  return (tries * patternWork(node.pattern)) / 10;
}

/**
 * Every `pattern` in the schema, priced once wherever it sits (under keywords the instance walk
 * does not follow, too); and a refusal of `patternProperties`: json-schema-faker tests property
 * names against each of their keys compiled as a JavaScript RegExp, a backtracking engine, so
 * `^(a+)+$` against a long name of `a`s holds the event loop for minutes.
 */
function everyPattern(schema: unknown, param: string, depth: number): number {
  if (schema === null || typeof schema !== 'object') return 0;
  // Arrays (`anyOf`, `items` lists) count as levels here, not in the instance walk: twice the room.
  if (depth > 2 * MAX_DEPTH) throw new ValidationError(`Invalid schema for '${param}': nested more than ${MAX_DEPTH} levels deep.`, param);
  let cost = 0;
  if (!Array.isArray(schema)) {
    if ('patternProperties' in schema) {
      throw new UnsupportedFeatureError(`Invalid schema for '${param}': the sandbox does not support 'patternProperties'.`, param);
    }
    cost += patternCost(schema as Record<string, unknown>);
  }
  for (const [key, value] of Array.isArray(schema) ? schema.entries() : Object.entries(schema)) {
    // Values, not schemas: an `enum` of objects may hold any key.
    if (typeof key === 'string' && DATA_KEYWORDS.has(key)) continue;
    if (typeof key === 'string' && NAMED_SCHEMAS.has(key) && value !== null && typeof value === 'object') {
      // Property names are names: one called `patternProperties` is no such keyword.
      for (const child of Object.values(value)) cost += everyPattern(child, param, depth + 1);
      continue;
    }
    cost += everyPattern(value, param, depth + 1);
  }
  return cost;
}

const DATA_KEYWORDS = new Set(['enum', 'const', 'default', 'examples']);
const NAMED_SCHEMAS = new Set(['properties', '$defs', 'definitions', 'dependentSchemas']);

/**
 * The work json-schema-faker's regex generator does for one string of `pattern`, in node visits
 * (at least the characters it writes), read the way it reads a pattern: `*` and `+` repeat up to
 * 5 times, `?` once, `{n}` n times and `{n,m}` at most n + 5; a group costs its costliest branch;
 * repetitions multiply through nested groups. Each `[a-z]` range is spelled out character by
 * character when the pattern is read, so ranges cost their width too.
 */
export function patternWork(pattern: string): number {
  let position = 0;
  let rangeWidth = 0;

  const repetitions = (): number => {
    const next = pattern[position];
    let times = 1;
    if (next === '*' || next === '+') {
      times = 5;
      position += 1;
    } else if (next === '?') {
      position += 1;
    } else if (next === '{') {
      const braces = /^\{(\d+)(?:,(\d*))?\}/.exec(pattern.slice(position, position + 64));
      if (!braces) return 1;
      const least = Number(braces[1]);
      const most = braces[2] === undefined ? least : braces[2] === '' ? least + 5 : Number(braces[2]);
      times = Math.max(least, Math.min(most, least + 5));
      position += braces[0].length;
    } else {
      return 1;
    }
    // A lazy or possessive mark changes nothing here.
    if (pattern[position] === '?' || pattern[position] === '+') position += 1;
    return times;
  };

  const charClass = (): void => {
    position += 1;
    if (pattern[position] === '^') position += 1;
    while (position < pattern.length && pattern[position] !== ']') {
      if (pattern[position] === '\\') {
        position += 2;
        continue;
      }
      if (position + 2 < pattern.length && pattern[position + 1] === '-' && pattern[position + 2] !== ']') {
        rangeWidth += Math.max(0, pattern.charCodeAt(position + 2) - pattern.charCodeAt(position) + 1);
        position += 3;
        continue;
      }
      position += 1;
    }
    position += 1;
  };

  /** The alternatives up to the `)` that closes them (or the end): the costliest one. */
  const alternatives = (depth: number): number => {
    let costliest = 0;
    let branch = 0;
    while (position < pattern.length) {
      const character = pattern[position]!;
      if (character === ')') break;
      if (character === '|') {
        costliest = Math.max(costliest, branch);
        branch = 0;
        position += 1;
        continue;
      }
      let atom = 1;
      if (character === '(') {
        position += 1;
        if (pattern[position] === '?') position += 2;
        // Deeper than the stack allows is priced as out of budget.
        const inner = depth > 256 ? Infinity : alternatives(depth + 1);
        position += 1;
        atom = 1 + inner;
      } else if (character === '[') {
        charClass();
      } else if (character === '^' || character === '$') {
        position += 1;
        branch += 1;
        continue;
      } else {
        position += character === '\\' ? 2 : 1;
      }
      branch += 1 + repetitions() * atom;
    }
    return 1 + Math.max(costliest, branch);
  };

  let work = 0;
  // A stray `)` ends json-schema-faker's reading; read on all the same (pricing more is safe).
  while (position < pattern.length) {
    work += alternatives(0);
    position += 1;
  }
  return work + pattern.length + rangeWidth;
}

function count(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? value : 0;
}

/** Every `$defs` / `definitions` entry, wherever it is declared: json-schema-faker resolves `#/$defs/x` against any of them. */
function definitions(schema: unknown, found = new Map<string, unknown>(), depth = 0): Map<string, unknown> {
  if (schema === null || typeof schema !== 'object' || depth > MAX_DEPTH) return found;
  for (const [key, value] of Object.entries(schema)) {
    if ((key === '$defs' || key === 'definitions') && value && typeof value === 'object') {
      for (const [name, definition] of Object.entries(value)) found.set(`#/${key}/${name}`, definition);
    }
    definitions(value, found, depth + 1);
  }
  return found;
}

/** The schema a local `$ref` (`#`, `#/$defs/x`, `#/definitions/x`) points at; undefined for any other. */
function resolveRef(refs: { root: unknown; defs: Map<string, unknown> }, ref: string): unknown {
  if (refs.defs.has(ref)) return refs.defs.get(ref);
  const root = refs.root;
  if (!ref.startsWith('#')) return undefined;
  let node = root;
  for (const part of ref.slice(1).split('/').filter(Boolean)) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<string, unknown>)[part.replace(/~1/g, '/').replace(/~0/g, '~')];
  }
  return node;
}

interface Walk {
  root: unknown;
  defs: Map<string, unknown>;
  hops: number;
  visits: { count: number };
}

function instanceCost(schema: unknown, depth: number, param: string, refs: Walk): number {
  if (schema === null || typeof schema !== 'object') return 1;
  if (depth > MAX_DEPTH) throw new ValidationError(`Invalid schema for '${param}': nested more than ${MAX_DEPTH} levels deep.`, param);
  refs.visits.count += 1;
  if (refs.visits.count > MAX_VISITS) return Infinity;
  const node = schema as Record<string, unknown>;
  const below = (child: unknown) => instanceCost(child, depth + 1, param, refs);
  // A reference costs what it points at, each time it is used (an item's `$ref` is paid per item).
  if (typeof node.$ref === 'string' && refs.hops < MAX_REF_HOPS) {
    const target = resolveRef(refs, node.$ref);
    if (target !== undefined) return instanceCost(target, depth + 1, param, { ...refs, hops: refs.hops + 1 });
  }
  let cost = 1 + count(node.minLength) / 10;
  // A pattern is generated too, for each instance (`^a{1000000}$` spells a million characters,
  // `((a+)+)+` nests its repetitions).
  cost += patternCost(node);
  if (node.properties && typeof node.properties === 'object') {
    for (const child of Object.values(node.properties)) cost += below(child);
  }
  cost += count(node.minProperties) * below(node.additionalProperties);
  const perItem = Array.isArray(node.items) ? node.items.reduce((sum: number, child) => sum + below(child), 0) : node.items !== undefined ? below(node.items) : 1;
  if (node.type === 'array' || node.items !== undefined || node.minItems !== undefined) cost += (count(node.minItems) + RANDOM_ITEMS_CAP) * perItem;
  if (Array.isArray(node.prefixItems)) cost += node.prefixItems.reduce((sum: number, child) => sum + below(child), 0);
  if (Array.isArray(node.allOf)) cost += node.allOf.reduce((sum: number, child) => sum + below(child), 0);
  for (const key of ['anyOf', 'oneOf'] as const) {
    const branches = node[key];
    if (Array.isArray(branches)) cost += Math.max(0, ...branches.map(below));
  }
  return cost;
}
