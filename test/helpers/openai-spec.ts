import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';

/**
 * Validators for OpenAI's own schemas (`../shared/openai-openapi/openapi.yaml`, the reference for
 * every wire detail), so that a test checks a reply against the spec itself, not a copy of it.
 */

const SPEC_PATH = fileURLToPath(new URL('../../../shared/openai-openapi/openapi.yaml', import.meta.url));

// ajv-formats is CommonJS: its default export arrives wrapped under tsx's ESM interop.
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (ajv: Ajv2019) => Ajv2019;

/** OpenAPI 3.0's `nullable: true` (still used in places by the 3.1 spec) as JSON Schema. */
function withoutNullable(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(withoutNullable);
  if (node === null || typeof node !== 'object') return node;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(node)) if (key !== 'nullable') out[key] = withoutNullable(value);
  return (node as { nullable?: unknown }).nullable === true ? { anyOf: [out, { type: 'null' }] } : out;
}

let ajv: Ajv2019 | undefined;

function specAjv(): Ajv2019 {
  if (ajv) return ajv;
  const document = parse(readFileSync(SPEC_PATH, 'utf8')) as { components: unknown };
  ajv = new Ajv2019({ strict: false, allErrors: true, logger: false });
  addFormats(ajv);
  ajv.addSchema({ $id: 'openai.json', components: withoutNullable(document.components) });
  return ajv;
}

/** A validator for `#/components/schemas/<name>`; it returns the errors, empty when the value conforms. */
export function specValidator(name: string): (value: unknown) => string[] {
  const validate = specAjv().compile({ $ref: `openai.json#/components/schemas/${name}` });
  return (value) => {
    if (validate(value)) return [];
    return (validate.errors ?? []).map((error) => `${error.instancePath || '/'} ${error.message ?? error.keyword}`);
  };
}

/** A draft-07 ajv with formats, for the JSON schemas tests send as tool parameters or response formats. */
export function jsonSchemaAjv(): Ajv {
  const instance = new Ajv({ strict: false, allErrors: true });
  addFormats(instance as unknown as Ajv2019);
  return instance;
}
