import { useState } from 'preact/hooks';
import { api, ApiError } from '../api.js';
import { Badge, ConfirmDialog, ErrorNote, PageHeader, useLoad } from '../components.js';

interface Persona {
  id: string;
  model: string;
  name: string;
  description: string;
  base_model: string;
  system_prompt: string;
  parameters: { temperature?: number; max_tokens?: number };
  locked_parameters: string[];
  style_examples: string[];
  drift_rules: { forbidden_phrases: string[]; required_language?: string; max_length?: number; min_similarity?: number };
  recovery: { policy: 'off' | 'regenerate' | 'fallback'; fallback_model?: string };
}

interface TestResult {
  persona: { reply: string; route: string; drift: { score: number; alert: boolean; reasons: string[]; threshold: number } | null; layers: string[]; recovery: string | null };
  base: { reply?: string; route?: string; error?: string };
}

/** The form field each of the API's `param`s is about, so its error shows next to that field. */
const FIELD_OF_PARAM: Record<string, string> = {
  name: 'persona-name',
  id: 'persona-name',
  base_model: 'persona-base',
  system_prompt: 'persona-prompt',
  'parameters.temperature': 'persona-temperature',
  locked_parameters: 'persona-temperature',
  'parameters.max_tokens': 'persona-max-tokens',
  style_examples: 'persona-examples',
  'drift_rules.forbidden_phrases': 'persona-forbidden',
  'drift_rules.required_language': 'persona-language',
  'drift_rules.max_length': 'persona-max-length',
  recovery: 'persona-recovery',
  'recovery.policy': 'persona-recovery',
  'recovery.fallback_model': 'persona-fallback',
};

function fieldOf(error: Error | undefined): string | undefined {
  const param = error instanceof ApiError ? error.param : null;
  if (!param) return undefined;
  // `style_examples[2]` or `drift_rules.forbidden_phrases.0` belong to their list's field.
  const key = Object.keys(FIELD_OF_PARAM)
    .filter((name) => param === name || param.startsWith(`${name}.`) || param.startsWith(`${name}[`))
    .sort((a, b) => b.length - a.length)[0];
  return key ? FIELD_OF_PARAM[key] : undefined;
}

const lines = (text: string) => text.split('\n').map((line) => line.trim()).filter(Boolean);
const numberOrUndefined = (text: string) => (text.trim() === '' ? undefined : Number(text));

export function PersonasPage() {
  const data = useLoad(async () => {
    const [personas, models] = await Promise.all([api<{ data: Persona[] }>('GET', '/personas'), api<{ data: Array<{ id: string }> }>('GET', '/models')]);
    return { personas: personas.data, models: models.data.map((model) => model.id) };
  }, []);
  const [editing, setEditing] = useState<Persona | 'new' | undefined>();
  const [deleting, setDeleting] = useState<Persona | undefined>();
  const [error, setError] = useState<Error | undefined>();
  const personas = data.data?.personas ?? [];

  return (
    <>
      <PageHeader title="Personas">
        <button type="button" onClick={() => setEditing('new')}>
          New persona
        </button>
      </PageHeader>
      <p class="hint">
        Called as the model <span class="mono">persona://&lt;id&gt;</span>: the persona's prompt first, its parameters (locked ones win), its base model's routing; every reply scored for drift.
      </p>
      <ErrorNote error={error ?? data.error} />
      {editing ? (
        <PersonaForm
          persona={editing === 'new' ? undefined : editing}
          models={data.data?.models ?? []}
          onCancel={() => setEditing(undefined)}
          onSaved={() => {
            setEditing(undefined);
            data.reload();
          }}
        />
      ) : null}
      <div class="table-wrap">
        <table>
          <caption class="sr-only">Personas</caption>
          <thead>
            <tr>
              <th scope="col">Persona</th>
              <th scope="col">Base model</th>
              <th scope="col">Drift rules</th>
              <th scope="col">Recovery</th>
              <th scope="col">
                <span class="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {personas.length === 0 ? (
              <tr>
                <td colSpan={5} class="empty">
                  No personas yet.
                </td>
              </tr>
            ) : null}
            {personas.map((persona) => (
              <tr key={persona.id}>
                <td>
                  {persona.name}
                  <div class="hint mono">{persona.model}</div>
                </td>
                <td class="mono">{persona.base_model}</td>
                <td>{ruleSummary(persona)}</td>
                <td>{persona.recovery.policy === 'fallback' ? `fallback to ${persona.recovery.fallback_model}` : persona.recovery.policy}</td>
                <td class="actions">
                  <button type="button" class="secondary" onClick={() => setEditing(persona)} aria-label={`Edit ${persona.name}`}>
                    Edit
                  </button>
                  <button type="button" class="danger" onClick={() => setDeleting(persona)} aria-label={`Delete ${persona.name}`}>
                    Delete
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {personas.length > 0 ? <PersonaTest personas={personas} /> : null}
      {deleting ? (
        <ConfirmDialog
          title={`Delete ${deleting.name}?`}
          confirmLabel="Delete persona"
          danger
          onCancel={() => setDeleting(undefined)}
          onConfirm={async () => {
            setError(undefined);
            try {
              await api('DELETE', `/personas/${deleting.id}`);
              data.reload();
            } catch (failure) {
              setError(failure as Error);
            } finally {
              setDeleting(undefined);
            }
          }}
        >
          Calls to <span class="mono">{deleting.model}</span> get 404 from now on (every node within a second).
        </ConfirmDialog>
      ) : null}
    </>
  );
}

function ruleSummary(persona: Persona): string {
  const rules = persona.drift_rules;
  const parts = [
    rules.forbidden_phrases.length > 0 ? `${rules.forbidden_phrases.length} forbidden phrase${rules.forbidden_phrases.length === 1 ? '' : 's'}` : '',
    rules.required_language ? `language ${rules.required_language}` : '',
    rules.max_length ? `≤ ${rules.max_length} chars` : '',
    rules.min_similarity !== undefined ? `similarity ≥ ${rules.min_similarity}` : '',
  ].filter(Boolean);
  return parts.length > 0 ? parts.join(', ') : 'none';
}

function PersonaForm({ persona, models, onCancel, onSaved }: { persona: Persona | undefined; models: string[]; onCancel: () => void; onSaved: () => void }) {
  const [name, setName] = useState(persona?.name ?? '');
  const [baseModel, setBaseModel] = useState(persona?.base_model ?? 'balanced');
  const [prompt, setPrompt] = useState(persona?.system_prompt ?? '');
  const [temperature, setTemperature] = useState(persona?.parameters.temperature?.toString() ?? '');
  const [maxTokens, setMaxTokens] = useState(persona?.parameters.max_tokens?.toString() ?? '');
  const [lockTemperature, setLockTemperature] = useState(persona?.locked_parameters.includes('temperature') ?? false);
  const [examples, setExamples] = useState((persona?.style_examples ?? []).join('\n'));
  const [forbidden, setForbidden] = useState((persona?.drift_rules.forbidden_phrases ?? []).join('\n'));
  const [language, setLanguage] = useState(persona?.drift_rules.required_language ?? '');
  const [maxLength, setMaxLength] = useState(persona?.drift_rules.max_length?.toString() ?? '');
  const [policy, setPolicy] = useState<Persona['recovery']['policy']>(persona?.recovery.policy ?? 'off');
  const [fallback, setFallback] = useState(persona?.recovery.fallback_model ?? '');
  const [error, setError] = useState<Error | undefined>();
  const [busy, setBusy] = useState(false);
  const input = (set: (value: string) => void) => (event: Event) => set((event.currentTarget as HTMLInputElement).value);
  const field = fieldOf(error);
  /** The attributes that tie a field to the API's error about it. */
  const invalid = (id: string) => (field === id ? { 'aria-invalid': true, 'aria-describedby': `${id}-error` } : {});
  const fieldError = (id: string) =>
    field === id && error ? (
      <p class="error field-error" id={`${id}-error`} role="alert">
        {error.message}
      </p>
    ) : null;

  return (
    <form
      class="card form-grid"
      aria-labelledby="persona-form-title"
      onSubmit={async (event) => {
        event.preventDefault();
        setBusy(true);
        setError(undefined);
        const body = {
          name: name.trim(),
          base_model: baseModel.trim(),
          system_prompt: prompt,
          parameters: { ...(temperature ? { temperature: numberOrUndefined(temperature) } : {}), ...(maxTokens ? { max_tokens: numberOrUndefined(maxTokens) } : {}) },
          locked_parameters: lockTemperature && temperature ? ['temperature'] : [],
          style_examples: lines(examples),
          drift_rules: { forbidden_phrases: lines(forbidden), ...(language ? { required_language: language.trim() } : {}), ...(maxLength ? { max_length: numberOrUndefined(maxLength) } : {}) },
          recovery: { policy, ...(policy === 'fallback' ? { fallback_model: fallback.trim() } : {}) },
        };
        try {
          if (persona) await api('PUT', `/personas/${persona.id}`, body);
          else await api('POST', '/personas', body);
          onSaved();
        } catch (failure) {
          setError(failure as Error);
          const id = fieldOf(failure as Error);
          if (id) requestAnimationFrame(() => document.getElementById(id)?.focus());
        } finally {
          setBusy(false);
        }
      }}
    >
      <h2 id="persona-form-title">{persona ? `Edit ${persona.name}` : 'New persona'}</h2>
      <label for="persona-name">Name</label>
      <div class="field">
        <input id="persona-name" required value={name} maxLength={200} onInput={input(setName)} {...invalid('persona-name')} />
        {fieldError('persona-name')}
      </div>
      <label for="persona-base">Base model</label>
      <div class="field">
        <input id="persona-base" required list="persona-models" value={baseModel} onInput={input(setBaseModel)} {...invalid('persona-base')} />
        {fieldError('persona-base')}
      </div>
      <datalist id="persona-models">
        {models.filter((model) => !model.startsWith('persona://')).map((model) => (
          <option key={model} value={model} />
        ))}
      </datalist>
      <label for="persona-prompt">System prompt</label>
      <div class="field">
        <textarea id="persona-prompt" required rows={4} value={prompt} onInput={input(setPrompt)} {...invalid('persona-prompt')} />
        {fieldError('persona-prompt')}
      </div>
      <label for="persona-temperature">Temperature</label>
      <div class="field">
        <div class="inline-form">
          <input id="persona-temperature" type="number" min="0" max="2" step="0.1" value={temperature} onInput={input(setTemperature)} {...invalid('persona-temperature')} />
          <label class="checkbox">
            <input type="checkbox" checked={lockTemperature} onChange={(event) => setLockTemperature((event.currentTarget as HTMLInputElement).checked)} />
            <span>Locked (the client cannot change it)</span>
          </label>
        </div>
        {fieldError('persona-temperature')}
      </div>
      <label for="persona-max-tokens">Max tokens</label>
      <div class="field">
        <input id="persona-max-tokens" type="number" min="1" value={maxTokens} onInput={input(setMaxTokens)} {...invalid('persona-max-tokens')} />
        {fieldError('persona-max-tokens')}
      </div>
      <label for="persona-examples">Style examples</label>
      <div class="field">
        <textarea id="persona-examples" rows={3} placeholder="One per line" value={examples} onInput={input(setExamples)} {...invalid('persona-examples')} />
        {fieldError('persona-examples')}
      </div>
      <label for="persona-forbidden">Forbidden phrases</label>
      <div class="field">
        <textarea id="persona-forbidden" rows={2} placeholder="One per line, e.g. as an AI" value={forbidden} onInput={input(setForbidden)} {...invalid('persona-forbidden')} />
        {fieldError('persona-forbidden')}
      </div>
      <label for="persona-language">Required language</label>
      <div class="field">
        <input id="persona-language" maxLength={2} placeholder="e.g. en" value={language} onInput={input(setLanguage)} {...invalid('persona-language')} />
        {fieldError('persona-language')}
      </div>
      <label for="persona-max-length">Maximum length (characters)</label>
      <div class="field">
        <input id="persona-max-length" type="number" min="1" value={maxLength} onInput={input(setMaxLength)} {...invalid('persona-max-length')} />
        {fieldError('persona-max-length')}
      </div>
      <label for="persona-recovery">When a reply drifts</label>
      <select id="persona-recovery" value={policy} onChange={(event) => setPolicy((event.currentTarget as HTMLSelectElement).value as Persona['recovery']['policy'])}>
        <option value="off">Ship it, with the alert</option>
        <option value="regenerate">Regenerate once with a reinforced prompt</option>
        <option value="fallback">Ask a fallback model</option>
      </select>
      {policy === 'fallback' ? (
        <>
          <label for="persona-fallback">Fallback model</label>
          <div class="field">
            <input id="persona-fallback" required list="persona-models" value={fallback} onInput={input(setFallback)} {...invalid('persona-fallback')} />
            {fieldError('persona-fallback')}
          </div>
        </>
      ) : null}
      {/* An error about no one field (or a field not on the form) shows above the buttons. */}
      {field ? null : <ErrorNote error={error} />}
      <div class="form-actions">
        <button type="button" class="secondary" onClick={onCancel}>
          Cancel
        </button>
        <button type="submit" disabled={busy}>
          {busy ? 'Saving…' : persona ? 'Save persona' : 'Create persona'}
        </button>
      </div>
    </form>
  );
}

/** One message to a persona and to its base model, side by side, with the persona reply's drift. */
function PersonaTest({ personas }: { personas: Persona[] }) {
  const [id, setId] = useState(personas[0]!.id);
  const [message, setMessage] = useState('');
  const [result, setResult] = useState<TestResult | undefined>();
  const [error, setError] = useState<Error | undefined>();
  const [busy, setBusy] = useState(false);
  const persona = personas.find((entry) => entry.id === id) ?? personas[0]!;

  return (
    <section class="card" aria-labelledby="persona-test-title">
      <h2 id="persona-test-title">Test side by side</h2>
      <form
        class="form-stack"
        onSubmit={async (event) => {
          event.preventDefault();
          setBusy(true);
          setError(undefined);
          try {
            setResult(await api<TestResult>('POST', `/personas/${persona.id}/test`, { message }));
          } catch (failure) {
            setError(failure as Error);
          } finally {
            setBusy(false);
          }
        }}
      >
        <label for="persona-test-which">Persona</label>
        <select id="persona-test-which" value={id} onChange={(event) => setId((event.currentTarget as HTMLSelectElement).value)}>
          {personas.map((entry) => (
            <option key={entry.id} value={entry.id}>
              {entry.name} ({entry.model})
            </option>
          ))}
        </select>
        <label for="persona-test-message">Message</label>
        <textarea id="persona-test-message" required rows={3} value={message} onInput={(event) => setMessage((event.currentTarget as HTMLTextAreaElement).value)} />
        <div class="form-actions">
          <button type="submit" disabled={busy}>
            {busy ? 'Asking both…' : 'Send to both'}
          </button>
        </div>
      </form>
      <ErrorNote error={error} />
      {result ? (
        <div class="two-columns" aria-live="polite">
          <section aria-labelledby="persona-test-persona">
            <h3 id="persona-test-persona">
              {persona.name}{' '}
              {result.persona.drift ? (
                <Badge tone={result.persona.drift.alert ? 'bad' : 'ok'}>
                  drift {result.persona.drift.score}
                  {result.persona.drift.alert ? ' · alert' : ''}
                </Badge>
              ) : null}
            </h3>
            <p class="reply" data-testid="persona-reply">
              {result.persona.reply}
            </p>
            {result.persona.drift && result.persona.drift.reasons.length > 0 ? <p class="hint">Drift: {result.persona.drift.reasons.join('; ')}</p> : null}
            <p class="hint">
              Layers: {result.persona.layers.join(', ')}
            </p>
            <p class="hint mono">{result.persona.route}</p>
          </section>
          <section aria-labelledby="persona-test-base">
            <h3 id="persona-test-base">
              Base model <span class="mono">{persona.base_model}</span>
            </h3>
            {result.base.error ? <p class="error">{result.base.error}</p> : <p class="reply" data-testid="base-reply">{result.base.reply}</p>}
            {result.base.route ? <p class="hint mono">{result.base.route}</p> : null}
          </section>
        </div>
      ) : null}
    </section>
  );
}
