// Personas through the real server: the request the backend gets (prompt order, parameters),
// the route and layers, drift scoring with its alert and recovery, streams, the model list, the
// admin API and the audit record.
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { APIError } from 'openai';
import { completionReply, startFakeUpstream, streamReply, type FakeUpstream } from '../helpers/fake-openai-upstream.js';
import { eventually, startPlatformServer, type PlatformServer } from '../platform/helpers.js';
import { detectLanguage } from '../../src/gateway/drift/detect-language.js';
import { scoreDrift } from '../../src/gateway/drift/score-drift.js';
import { PersonaInputSchema, type Persona } from '../../src/gateway/personas/persona.js';

const SUPPORT = {
  id: 'persona_support',
  name: 'Sam from support',
  base_model: 'team',
  system_prompt: 'You are Sam, a calm support agent for Acme.',
  parameters: { temperature: 0.2, max_tokens: 300 },
  locked_parameters: ['temperature'],
  style_examples: ['Happy to help! Let me check that for you.'],
  drift_rules: { forbidden_phrases: ['as an AI'], max_length: 400, required_language: 'en' },
  recovery: { policy: 'regenerate' },
};
const STRICT = {
  ...SUPPORT,
  id: 'persona_strict',
  name: 'Strict with a fallback',
  base_model: 'up/m',
  recovery: { policy: 'fallback', fallback_model: 'sandbox/echo' },
};

function persona(overrides: Record<string, unknown> = {}): Persona {
  return { ...PersonaInputSchema.parse({ ...SUPPORT, ...overrides }), id: 'persona_x', created_at: 0, updated_at: 0 };
}

describe('drift rules', () => {
  test('each rule raises the score, and they add up', async () => {
    const clean = await scoreDrift('Happy to help! Your order ships today.', persona(), undefined, async () => []);
    assert.equal(clean.score, 0);
    const forbidden = await scoreDrift('As an AI, I cannot know that.', persona(), undefined, async () => []);
    assert.equal(forbidden.score, 0.5);
    assert.deepEqual(forbidden.reasons, ['forbidden phrase "as an AI"']);
    const long = await scoreDrift(`${'word '.repeat(100)}`, persona({ drift_rules: { max_length: 250 } }), undefined, async () => []);
    assert.equal(long.score, 1);
    const french = await scoreDrift('Je suis désolé, le colis est en retard et nous le regrettons.', persona(), undefined, async () => []);
    assert.equal(french.score, 1);
    assert.match(french.reasons[0]!, /language fr, not en/);
    const both = await scoreDrift('As an AI I think the parcel is late and the order is lost, you see.', persona({ drift_rules: { forbidden_phrases: ['as an AI'], max_length: 50 } }), undefined, async () => []);
    assert.ok(both.score > 0.5 && both.score < 1, `combined: ${both.score}`);
  });

  test('similarity to the style examples, through an embedding function', async () => {
    const embed = async (texts: string[]) => texts.map((text) => (text.includes('help') ? [1, 0] : [0, 1]));
    const p = persona({ drift_rules: { min_similarity: 0.8 } });
    assert.equal((await scoreDrift('I will help you', p, embed, () => embed(p.style_examples))).score, 0);
    const off = await scoreDrift('Whatever.', p, embed, () => embed(p.style_examples));
    assert.equal(off.score, 1);
    assert.match(off.reasons[0]!, /similarity 0.00/);
    // Cosine similarity can be negative: the violation stays in [0, 1], and so does the score.
    const opposite = async (texts: string[]) => texts.map((text) => (text.includes('help') ? [1, 0] : [-1, 0.2]));
    const away = await scoreDrift('Whatever.', p, opposite, () => opposite(p.style_examples));
    assert.equal(away.score, 1);
    assert.match(away.reasons[0]!, /similarity -0.98/);
  });

  test('the language guess', () => {
    assert.equal(detectLanguage('The parcel is on its way and you will have it tomorrow.'), 'en');
    assert.equal(detectLanguage('Das Paket ist unterwegs und Sie bekommen es morgen.'), 'de');
    assert.equal(detectLanguage('El paquete está en camino y lo tendrá mañana.'), 'es');
    assert.equal(detectLanguage('包裹正在路上，明天就到。'), 'zh');
    assert.equal(detectLanguage('ok'), undefined, 'too short to judge');
  });
});

describe('personas', () => {
  let upstream: FakeUpstream;
  let server: PlatformServer;
  let key: string;
  const client = () => server.client(key);

  before(async () => {
    upstream = await startFakeUpstream();
    server = await startPlatformServer({
      providers: [
        { id: 'sandbox', kind: 'sandbox' },
        { id: 'up', kind: 'openai-compatible', baseURL: upstream.baseURL, models: ['m'] },
      ],
      aliases: { team: { targets: ['up/m'] } },
      personas: [SUPPORT, STRICT],
      drift: { threshold: 0.4 },
    });
    key = (await server.admin('POST', '/keys', { name: 'persona tests' })).body.value as string;
  });
  after(async () => {
    await server.close();
    await upstream.close();
  });
  beforeEach(() => upstream.reset());

  test('the persona’s prompt comes first, the client’s system message after it; locked parameters hold, others yield to the client', async () => {
    const { data, response } = await client().chat.completions
      .create({
        model: 'persona://persona_support',
        messages: [
          { role: 'system', content: 'The customer is a VIP.' },
          { role: 'user', content: 'Where is my parcel?' },
        ],
        temperature: 1.5,
        max_tokens: 40,
      })
      .withResponse();
    assert.equal(data.choices[0]!.message.content, 'Hello from the fake upstream.');
    const sent = upstream.chatRequests[0]!.body;
    assert.equal(sent.model, 'm');
    assert.equal(sent.messages[0].role, 'system');
    assert.match(sent.messages[0].content, /^You are Sam, a calm support agent for Acme\./);
    assert.match(sent.messages[0].content, /Happy to help! Let me check that for you\./, 'style examples in the prompt');
    assert.deepEqual(sent.messages.slice(1), [
      { role: 'system', content: 'The customer is a VIP.' },
      { role: 'user', content: 'Where is my parcel?' },
    ]);
    assert.equal(sent.temperature, 0.2, 'locked: the persona’s');
    assert.equal(sent.max_tokens, 40, 'not locked: the client’s');
    assert.equal(response.headers.get('x-switchyard-route'), 'persona:persona_support > alias:team > up/m');
    assert.equal(response.headers.get('x-switchyard-layers'), 'persona-prompt, locked:temperature, alias:team, provider:up');
    assert.equal(response.headers.get('x-switchyard-drift-score'), '0');
    assert.equal(response.headers.get('x-switchyard-drift-alert'), null);
  });

  test('a drifting reply alerts and is regenerated once with a reinforced prompt; the better reply ships', async () => {
    upstream.once(completionReply({ content: 'As an AI, I have no idea where your parcel is.' }), completionReply({ content: 'Happy to help! Your parcel arrives tomorrow.' }));
    const { data, response } = await client().chat.completions.create({ model: 'persona://persona_support', messages: [{ role: 'user', content: 'Where is my parcel?' }] }).withResponse();
    assert.equal(data.choices[0]!.message.content, 'Happy to help! Your parcel arrives tomorrow.');
    assert.equal(upstream.chatRequests.length, 2, 'regenerated once');
    assert.match(upstream.chatRequests[1]!.body.messages[0].content, /drifted from this persona \(forbidden phrase "as an AI"\)/);
    assert.equal(response.headers.get('x-switchyard-drift-recovery'), 'regenerate');
    assert.equal(response.headers.get('x-switchyard-drift-score'), '0');
    assert.match(response.headers.get('x-switchyard-layers')!, /recovery:regenerate/);

    // The audit record of the first call keeps its score, its alert and its layers, and says which recovery ran.
    const auditId = response.headers.get('x-switchyard-audit-id')!;
    assert.ok(await eventually(async () => (await server.admin('GET', `/requests/${auditId}`)).status === 200));
    const record = (await server.admin('GET', `/requests/${auditId}`)).body;
    assert.equal(record.model, 'persona://persona_support');
    assert.deepEqual(record.drift, { score: 0.5, alert: true, layers: ['persona-prompt', 'locked:temperature', 'alias:team', 'provider:up'], recovery: 'regenerate' });
    const second = (await server.admin('GET', `/requests/${auditId}_recovery`)).body;
    assert.equal(second.drift.recovery, 'regenerate');
  });

  test('a reply still drifting after recovery ships with the alert', async () => {
    upstream.script(completionReply({ content: 'As an AI, I cannot say.' }));
    const { response } = await client().chat.completions.create({ model: 'persona://persona_support', messages: [{ role: 'user', content: 'Where?' }] }).withResponse();
    assert.equal(response.headers.get('x-switchyard-drift-alert'), 'true');
    assert.equal(response.headers.get('x-switchyard-drift-score'), '0.5');
    assert.equal(upstream.chatRequests.length, 2);
  });

  test('the fallback policy asks the fallback model', async () => {
    upstream.script(completionReply({ content: 'As an AI, I refuse.' }));
    const { data, response } = await client().chat.completions.create({ model: 'persona://persona_strict', messages: [{ role: 'user', content: 'Tell me about my order status please' }] }).withResponse();
    assert.equal(upstream.chatRequests.length, 1, 'the upstream is asked once');
    assert.match(data.choices[0]!.message.content!, /Tell me about my order status please/, 'the sandbox echo answered');
    assert.equal(response.headers.get('x-switchyard-drift-recovery'), 'fallback');
    assert.match(response.headers.get('x-switchyard-layers')!, /provider:sandbox, recovery:fallback/);
  });

  test('a stream passes through and ends with the drift score as a comment line before [DONE]', async () => {
    upstream.script(streamReply({ contents: ['As an AI, ', 'I stream.'] }));
    const response = await fetch(`${server.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body: JSON.stringify({ model: 'persona://persona_support', stream: true, messages: [{ role: 'user', content: 'hi' }] }),
    });
    const text = await response.text();
    assert.match(text, /"content":"As an AI, "/);
    assert.match(text, /: x-switchyard-drift-score=0.5 alert=true\n\ndata: \[DONE\]\n\n$/);
    assert.equal(upstream.chatRequests.length, 1, 'streams are not regenerated');
    const auditId = response.headers.get('x-switchyard-audit-id')!;
    assert.ok(await eventually(async () => (await server.admin('GET', `/requests/${auditId}`)).body.drift?.alert === true));
  });

  test('tools pass through unchanged', async () => {
    const tools = [{ type: 'function' as const, function: { name: 'lookup', parameters: { type: 'object', properties: {} } } }];
    await client().chat.completions.create({ model: 'persona://persona_support', messages: [{ role: 'user', content: 'x' }], tools, tool_choice: 'auto' });
    assert.deepEqual(upstream.chatRequests[0]!.body.tools, tools);
    assert.equal(upstream.chatRequests[0]!.body.tool_choice, 'auto');
  });

  test('personas are listed in /v1/models, owned by switchyard; an unknown one is a 404', async () => {
    const models = await client().models.list();
    const ids = models.data.map((model) => model.id);
    assert.ok(ids.includes('persona://persona_support'));
    assert.equal(models.data.find((model) => model.id === 'persona://persona_strict')!.owned_by, 'switchyard');
    assert.ok(ids.indexOf('persona://persona_support') < ids.indexOf('up/m'), 'after the aliases, before provider models');
    await assert.rejects(client().chat.completions.create({ model: 'persona://persona_nobody', messages: [{ role: 'user', content: 'x' }] }), (error: APIError) => {
      assert.equal(error.status, 404);
      assert.equal(error.code, 'model_not_found');
      assert.equal(error.param, 'model');
      return true;
    });
  });

  test('/v1/models lists only what a key limited to some models may call', async () => {
    const limited = (await server.admin('POST', '/keys', { name: 'limited', allowed_models: ['persona://persona_support', 'sandbox/*'] })).body.value as string;
    const ids = (await server.client(limited).models.list()).data.map((model) => model.id).sort();
    assert.deepEqual(ids, ['persona://persona_support', 'sandbox/echo', 'sandbox/lorem']);
  });

  test('the admin API: create, read, patch, delete, with 400s naming the field', async () => {
    const created = await server.admin('POST', '/personas', { name: 'Pirate', base_model: 'sandbox/echo', system_prompt: 'Talk like a pirate.', drift_rules: { forbidden_phrases: ['sir'] } });
    assert.equal(created.status, 200);
    assert.match(created.body.id, /^persona_/);
    assert.equal(created.body.model, `persona://${created.body.id}`);
    const id = created.body.id as string;
    const reply = await client().chat.completions.create({ model: `persona://${id}`, messages: [{ role: 'user', content: 'Ahoy' }] });
    assert.match(reply.choices[0]!.message.content!, /Ahoy/);

    const patched = await server.admin('PATCH', `/personas/${id}`, { recovery: { policy: 'regenerate' } });
    assert.equal(patched.body.recovery.policy, 'regenerate');
    assert.equal(patched.body.system_prompt, 'Talk like a pirate.', 'other fields kept');
    assert.equal((await server.admin('GET', `/personas/${id}`)).body.recovery.policy, 'regenerate');
    // A merge patch: nested objects merge, so one drift rule does not reset the others.
    const nested = await server.admin('PATCH', `/personas/${id}`, { drift_rules: { max_length: 500 } });
    assert.deepEqual([nested.body.drift_rules.max_length, nested.body.drift_rules.forbidden_phrases], [500, ['sir']]);
    const notObject = await server.admin('PATCH', `/personas/${id}`, [1]);
    assert.deepEqual([notObject.status, notObject.body.error.code, notObject.body.error.param], [400, 'invalid_type', null]);
    // What GET answers can be PUT back as it came; times are whole seconds.
    const read = (await server.admin('GET', `/personas/${id}`)).body;
    assert.ok(Number.isInteger(read.created_at) && Number.isInteger(read.updated_at));
    const put = await server.admin('PUT', `/personas/${id}`, read);
    assert.equal(put.status, 200, JSON.stringify(put.body));
    assert.ok((await server.admin('GET', '/personas')).body.data.some((p: { id: string }) => p.id === id));

    const bad = [
      [{ name: 'x', system_prompt: 'y' }, 'base_model', 'missing_required_parameter'],
      [{ name: 'x', base_model: 'persona://persona_support', system_prompt: 'y' }, 'base_model', 'invalid_value'],
      [{ name: 'x', base_model: 'm', system_prompt: 'y', parameters: { temperature: 5 } }, 'parameters.temperature', 'invalid_value'],
      [{ name: 'x', base_model: 'm', system_prompt: 'y', recovery: { policy: 'fallback' } }, 'recovery.fallback_model', 'invalid_value'],
      [{ name: 'x', base_model: 'm', system_prompt: 'y', colour: 'red' }, 'colour', 'unknown_parameter'],
      [{ name: 'x', base_model: 'no/such-model', system_prompt: 'y' }, 'base_model', 'invalid_value'],
      [{ name: 'x', base_model: 'sandbox/echo', system_prompt: 'y', recovery: { policy: 'fallback', fallback_model: 'persona://persona_support' } }, 'recovery.fallback_model', 'invalid_value'],
      [{ name: 'x', base_model: 'sandbox/echo', system_prompt: 'y', recovery: { policy: 'fallback', fallback_model: 'nowhere/model' } }, 'recovery.fallback_model', 'invalid_value'],
    ] as const;
    for (const [body, param, code] of bad) {
      const refused = await server.admin('POST', '/personas', body);
      assert.equal(refused.status, 400, JSON.stringify(body));
      assert.equal(refused.body.error.param, param);
      assert.equal(refused.body.error.code, code);
    }
    assert.equal((await server.admin('DELETE', `/personas/${id}`)).body.deleted, true);
    assert.equal((await server.admin('GET', `/personas/${id}`)).status, 404);
    // Seen by the gateway within its one-second cache.
    assert.ok(
      await eventually(async () => {
        try {
          await client().chat.completions.create({ model: `persona://${id}`, messages: [{ role: 'user', content: 'x' }] });
          return false;
        } catch (error) {
          return (error as APIError).status === 404;
        }
      }, 3000),
    );
  });
});

describe('the similarity rule through a configured embedding model', () => {
  test('a reply unlike the style examples alerts; the examples themselves do not', async () => {
    const { startServer } = await import('../helpers/start-server.js');
    const server = await startServer({
      personas: [
        {
          id: 'persona_echo',
          name: 'Echo',
          base_model: 'sandbox/echo',
          system_prompt: 'Repeat.',
          style_examples: ['The quick brown fox jumps over the lazy dog.'],
          drift_rules: { min_similarity: 0.99 },
        },
      ],
      drift: { embeddingModel: 'sandbox/echo', threshold: 0.001 },
    });
    try {
      const ask = (content: string) => server.client().chat.completions.create({ model: 'persona://persona_echo', messages: [{ role: 'user', content }] }).withResponse();
      // The sandbox echo repeats the user's text: the same text as the example is as similar as can be.
      const same = await ask('The quick brown fox jumps over the lazy dog.');
      assert.equal(same.response.headers.get('x-switchyard-drift-alert'), null, same.data.choices[0]!.message.content!);
      const other = await ask('Quarterly revenue figures, tabulated by region.');
      assert.equal(other.response.headers.get('x-switchyard-drift-alert'), 'true');
      assert.ok(Number(other.response.headers.get('x-switchyard-drift-score')) > 0);
    } finally {
      await server.close();
    }
  });
});
