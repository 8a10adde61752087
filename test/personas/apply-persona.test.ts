import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyPersona } from '../../src/gateway/personas/apply-persona.js';
import { PersonaInputSchema, type Persona } from '../../src/gateway/personas/persona.js';

const persona = (input: Record<string, unknown>): Persona => ({
  ...PersonaInputSchema.parse({ name: 'P', base_model: 'sandbox/echo', system_prompt: 'Be P.', ...input }),
  id: 'persona_p',
  created_at: 0,
  updated_at: 0,
});
const request = (extra: Record<string, unknown>) => ({ model: 'persona://persona_p', messages: [{ role: 'user' as const, content: 'hi' }], ...extra });

test('max_tokens and max_completion_tokens are one limit: a locked one holds under either name, a default yields to either', () => {
  const locked = persona({ parameters: { max_tokens: 5 }, locked_parameters: ['max_tokens'] });
  for (const extra of [{}, { max_tokens: 20 }, { max_completion_tokens: 20 }, { max_tokens: 20, max_completion_tokens: 60 }]) {
    const shaped = applyPersona(request(extra), locked).request;
    assert.equal(shaped.max_tokens, 5, JSON.stringify(extra));
    assert.equal(shaped.max_completion_tokens, undefined, JSON.stringify(extra));
  }
  const defaulted = persona({ parameters: { max_tokens: 5 } });
  assert.equal(applyPersona(request({}), defaulted).request.max_tokens, 5);
  const clients = applyPersona(request({ max_completion_tokens: 20 }), defaulted).request;
  assert.deepEqual([clients.max_tokens, clients.max_completion_tokens], [undefined, 20]);
});
