import { ValidationError } from '../../errors/errors.js';

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

export function checkInstanceBudget(schema: unknown, param: string): void {
  const cost = instanceCost(schema, 0, param, { root: schema, defs: definitions(schema), hops: 0 });
  if (cost > BUDGET) {
    throw new ValidationError(
      `Invalid schema for '${param}': its smallest instance is too large for the sandbox to produce (minItems, minLength or minProperties too high).`,
      param,
    );
  }
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

function instanceCost(schema: unknown, depth: number, param: string, refs: { root: unknown; defs: Map<string, unknown>; hops: number }): number {
  if (schema === null || typeof schema !== 'object') return 1;
  if (depth > MAX_DEPTH) throw new ValidationError(`Invalid schema for '${param}': nested more than ${MAX_DEPTH} levels deep.`, param);
  const node = schema as Record<string, unknown>;
  const below = (child: unknown) => instanceCost(child, depth + 1, param, refs);
  // A reference costs what it points at, each time it is used (an item's `$ref` is paid per item).
  if (typeof node.$ref === 'string' && refs.hops < MAX_REF_HOPS) {
    const target = resolveRef(refs, node.$ref);
    if (target !== undefined) return instanceCost(target, depth + 1, param, { ...refs, hops: refs.hops + 1 });
  }
  let cost = 1 + count(node.minLength) / 10;
  // A pattern is generated too (`^a{1000000}$` spells a million characters).
  if (typeof node.pattern === 'string') for (const match of node.pattern.matchAll(/\{(\d+)/g)) cost += Number(match[1]) / 10;
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
