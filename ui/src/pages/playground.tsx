import { useMemo, useRef, useState } from 'preact/hooks';
import { api, playgroundStream, type ModelState } from '../api.js';
import { ErrorNote, PageHeader, useLoad } from '../components.js';

type Part = { type: 'text'; text: string } | { type: 'image_url'; image_url: { url: string } };

interface Message {
  role: 'system' | 'user' | 'assistant';
  content: string | Part[];
}

interface Attached {
  name: string;
  url: string;
  bytes: number;
}

const IMAGE_TYPES = 'image/png,image/jpeg,image/webp,image/gif';
/** OpenAI's documented limit per image; the server enforces its own (`images.maxBytes`) anyway. */
const MAX_IMAGE_BYTES = 20 * 1024 * 1024;

const readAsDataUrl = (file: File) =>
  new Promise<string>((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result));
    reader.onerror = () => reject(reader.error ?? new Error(`could not read ${file.name}`));
    reader.readAsDataURL(file);
  });

/** The text of a message, whatever its shape. */
const textOf = (content: Message['content']) => (typeof content === 'string' ? content : content.map((part) => (part.type === 'text' ? part.text : '')).join(''));
const imagesOf = (content: Message['content']) => (typeof content === 'string' ? [] : content.flatMap((part) => (part.type === 'image_url' ? [part.image_url.url] : [])));

/** The request as code shows it: base64 image data elided, so the snippet stays readable. */
function elideImages(request: Record<string, unknown>): Record<string, unknown> {
  return JSON.parse(JSON.stringify(request, (_key, value: unknown) => (typeof value === 'string' && value.startsWith('data:image/') ? `${value.slice(0, value.indexOf(',') + 1)}…(${Math.round((value.length * 3) / 4 / 1024)} KB of base64)` : value))) as Record<string, unknown>;
}

interface Reply {
  content: string;
  reasoning: string;
  toolCalls: Array<{ id: string; name: string; arguments: string }>;
  finish: string | null;
  route: string | null;
  auditId: string | null;
  error: string | null;
  streaming: boolean;
}

const SAMPLE_TOOL = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'The current weather in a city.',
    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  },
};

type Language = 'curl' | 'python' | 'javascript';

/** Reads server-sent events from a fetch body, calling `onData` with each `data:` payload. */
async function readEvents(body: ReadableStream<Uint8Array>, onData: (data: string) => void): Promise<void> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    // `stream: true` keeps a multibyte character split across reads whole.
    buffer += decoder.decode(value, { stream: true });
    let end: number;
    while ((end = buffer.search(/\r?\n\r?\n/)) >= 0) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end).replace(/^\r?\n\r?\n/, '');
      const data = event
        .split(/\r?\n/)
        .filter((line) => line.startsWith('data:'))
        .map((line) => line.slice(5).replace(/^ /, ''))
        .join('\n');
      if (data) onData(data);
    }
  }
}

export function PlaygroundPage() {
  const models = useLoad(async () => {
    const [listed, personas] = await Promise.all([api<{ data: ModelState[]; aliases: string[] }>('GET', '/models'), api<{ data: Array<{ model: string; name: string }> }>('GET', '/personas').catch(() => ({ data: [] }))]);
    return { ...listed, personas: personas.data };
  }, []);
  const [images, setImages] = useState<Attached[]>([]);
  const [model, setModel] = useState('');
  const [system, setSystem] = useState('');
  const [input, setInput] = useState('');
  const [reasoning, setReasoning] = useState(false);
  const [tools, setTools] = useState(false);
  const [history, setHistory] = useState<Message[]>([]);
  const [reply, setReply] = useState<Reply | undefined>();
  const [language, setLanguage] = useState<Language>('curl');
  const [error, setError] = useState<Error | undefined>();
  const [lastSent, setLastSent] = useState<Record<string, unknown> | undefined>();
  const abort = useRef<AbortController | undefined>(undefined);
  // Bumped by "New conversation": a reply still streaming from the previous one must not come back.
  const conversation = useRef(0);

  const chosen = model || models.data?.aliases[0] || models.data?.data[0]?.id || 'sandbox/echo';
  const request = useMemo(() => {
    const turn: Message['content'] = images.length > 0 ? [{ type: 'text', text: input.trim() }, ...images.map((image): Part => ({ type: 'image_url', image_url: { url: image.url } }))] : input.trim();
    const messages: Message[] = [...(system.trim() ? [{ role: 'system' as const, content: system.trim() }] : []), ...history, ...(input.trim() ? [{ role: 'user' as const, content: turn }] : [])];
    return {
      model: chosen,
      messages,
      stream: true,
      ...(reasoning ? { reasoning_effort: 'low' } : {}),
      ...(tools ? { tools: [SAMPLE_TOOL] } : {}),
    };
  }, [chosen, system, history, input, images, reasoning, tools]);

  const send = async () => {
    if (!input.trim() || reply?.streaming) return;
    setError(undefined);
    const body = request;
    setLastSent(body);
    const userMessage = body.messages[body.messages.length - 1]!;
    setHistory((previous) => [...previous, userMessage]);
    const sentInput = input;
    const sentImages = images;
    setInput('');
    setImages([]);
    const controller = new AbortController();
    abort.current = controller;
    const mine = conversation.current;
    const superseded = () => conversation.current !== mine;
    let current: Reply = { content: '', reasoning: '', toolCalls: [], finish: null, route: null, auditId: null, error: null, streaming: true };
    setReply(current);
    const update = (next: Partial<Reply>) => {
      current = { ...current, ...next };
      if (!superseded()) setReply(current);
    };
    let response: Response | undefined;
    let refused = false;
    try {
      response = await playgroundStream(body, controller.signal);
      update({ route: response.headers.get('x-switchyard-route'), auditId: response.headers.get('x-switchyard-audit-id') });
      await readEvents(response.body!, (data) => {
        if (data === '[DONE]') return;
        const chunk = JSON.parse(data) as any;
        if (chunk.error) {
          update({ error: chunk.error.message ?? 'The stream failed.' });
          return;
        }
        const choice = chunk.choices?.[0];
        if (!choice) return;
        const delta = choice.delta ?? {};
        const toolCalls = [...current.toolCalls];
        for (const call of delta.tool_calls ?? []) {
          const existing = toolCalls[call.index] ?? { id: call.id ?? '', name: '', arguments: '' };
          toolCalls[call.index] = { id: call.id ?? existing.id, name: existing.name + (call.function?.name ?? ''), arguments: existing.arguments + (call.function?.arguments ?? '') };
        }
        update({
          content: current.content + (delta.content ?? ''),
          reasoning: current.reasoning + (delta.reasoning_content ?? delta.reasoning ?? ''),
          toolCalls,
          finish: choice.finish_reason ?? current.finish,
        });
      });
    } catch (failure) {
      if (superseded()) return;
      if ((failure as Error).name === 'AbortError') update({ error: 'Stopped.' });
      else if (!response) {
        // Refused before any reply (a 4xx, an unreachable upstream): nothing was said, so the turn
        // goes back into the form to fix or retry, and the error says why.
        refused = true;
        setReply(undefined);
        setHistory((previous) => previous.slice(0, -1));
        setInput(sentInput);
        setImages(sentImages);
        setError(failure as Error);
        return;
      } else update({ error: (failure as Error).message });
    } finally {
      if (!refused) update({ streaming: false });
      if (abort.current === controller) abort.current = undefined;
    }
    if (!superseded()) {
      // A turn that called tools would need the tools' results before the next one: the playground
      // shows the calls but leaves them out of the conversation it sends next.
      if (current.content && current.toolCalls.length === 0) setHistory((previous) => [...previous, { role: 'assistant', content: current.content }]);
    }
  };

  const shownRequest = input.trim() || !lastSent ? request : lastSent;
  const code = useMemo(() => snippet(language, elideImages(shownRequest)), [language, shownRequest]);

  const attach = async (files: FileList | null) => {
    setError(undefined);
    for (const file of Array.from(files ?? [])) {
      if (!IMAGE_TYPES.split(',').includes(file.type)) {
        setError(new Error(`${file.name}: not a PNG, JPEG, WebP or GIF image.`));
        continue;
      }
      if (file.size > MAX_IMAGE_BYTES) {
        setError(new Error(`${file.name}: ${(file.size / 1048576).toFixed(1)} MB, over the 20 MB limit.`));
        continue;
      }
      const url = await readAsDataUrl(file);
      setImages((previous) => [...previous, { name: file.name, url, bytes: file.size }]);
    }
  };

  return (
    <>
      <PageHeader title="Playground">
        <button
          type="button"
          class="secondary"
          onClick={() => {
            conversation.current += 1;
            abort.current?.abort();
            abort.current = undefined;
            setHistory([]);
            setReply(undefined);
            setLastSent(undefined);
            setError(undefined);
          }}
        >
          New conversation
        </button>
      </PageHeader>
      <ErrorNote error={error ?? models.error} />
      <div class="playground">
        <form
          class="card form-stack"
          aria-label="Request"
          onSubmit={(event) => {
            event.preventDefault();
            void send();
          }}
        >
          <label for="pg-model">Model or alias</label>
          <select id="pg-model" value={chosen} onChange={(event) => setModel((event.currentTarget as HTMLSelectElement).value)}>
            <optgroup label="Aliases">
              {(models.data?.aliases ?? []).map((alias) => (
                <option key={alias} value={alias}>
                  {alias}
                </option>
              ))}
            </optgroup>
            {(models.data?.personas ?? []).length > 0 ? (
              <optgroup label="Personas">
                {(models.data?.personas ?? []).map((persona) => (
                  <option key={persona.model} value={persona.model}>
                    {persona.name} ({persona.model})
                  </option>
                ))}
              </optgroup>
            ) : null}
            <optgroup label="Models">
              {(models.data?.data ?? []).map((entry) => (
                <option key={entry.id} value={entry.id}>
                  {entry.id}
                </option>
              ))}
            </optgroup>
          </select>
          <label for="pg-system">System prompt</label>
          <textarea id="pg-system" rows={2} value={system} onInput={(event) => setSystem((event.currentTarget as HTMLTextAreaElement).value)} />
          <label class="checkbox">
            <input type="checkbox" checked={reasoning} onChange={(event) => setReasoning((event.currentTarget as HTMLInputElement).checked)} />
            <span>
              Ask for reasoning (<span class="mono">reasoning_effort: low</span>)
            </span>
          </label>
          <label class="checkbox">
            <input type="checkbox" checked={tools} onChange={(event) => setTools((event.currentTarget as HTMLInputElement).checked)} />
            <span>
              Offer a tool (<span class="mono">get_weather</span>; name it in the message)
            </span>
          </label>
          <label for="pg-input">Message</label>
          <textarea
            id="pg-input"
            rows={4}
            value={input}
            aria-describedby="pg-input-hint"
            onInput={(event) => setInput((event.currentTarget as HTMLTextAreaElement).value)}
            onKeyDown={(event) => {
              if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) {
                event.preventDefault();
                void send();
              }
            }}
          />
          <span id="pg-input-hint" class="hint">
            Ctrl+Enter sends.
          </span>
          <label for="pg-images">Images</label>
          <input id="pg-images" type="file" accept={IMAGE_TYPES} multiple aria-describedby="pg-images-hint" onChange={(event) => {
            const target = event.currentTarget as HTMLInputElement;
            void attach(target.files).then(() => (target.value = ''));
          }} />
          <span id="pg-images-hint" class="hint">
            PNG, JPEG, WebP or GIF, up to 20 MB each; sent as base64 <span class="mono">image_url</span> parts with the message.
          </span>
          {images.length > 0 ? (
            <ul class="thumbnails" aria-label="Attached images">
              {images.map((image, index) => (
                <li key={`${image.name}-${index}`}>
                  <img src={image.url} alt={image.name} />
                  <button type="button" class="secondary" aria-label={`Remove ${image.name}`} onClick={() => setImages((previous) => previous.filter((_, at) => at !== index))}>
                    ×
                  </button>
                </li>
              ))}
            </ul>
          ) : null}
          <div class="form-actions">
            {reply?.streaming ? (
              <button type="button" class="danger" onClick={() => abort.current?.abort()}>
                Stop
              </button>
            ) : null}
            <button type="submit" disabled={reply?.streaming || !input.trim()}>
              Send
            </button>
          </div>
        </form>

        <section class="card conversation" aria-labelledby="conversation-title">
          <h2 id="conversation-title">Conversation</h2>
          {history.length === 0 && !reply ? <p class="hint">Replies stream in here as they arrive.</p> : null}
          <ol class="messages">
            {history.slice(0, reply && !reply.streaming && reply.content && reply.toolCalls.length === 0 ? -1 : undefined).map((message, index) => (
              <li key={index} class={`message message-${message.role}`}>
                <span class="role">{message.role === 'user' ? 'You' : 'Assistant'}</span>
                <div class="text">{textOf(message.content)}</div>
                {imagesOf(message.content).length > 0 ? (
                  <ul class="thumbnails" aria-label="Images sent">
                    {imagesOf(message.content).map((url, at) => (
                      <li key={at}>
                        <img src={url} alt={`image ${at + 1}`} />
                      </li>
                    ))}
                  </ul>
                ) : null}
              </li>
            ))}
            {reply ? (
              <li class="message message-assistant" aria-busy={reply.streaming}>
                <span class="role">
                  Assistant {reply.route ? <span class="hint mono">via {reply.route}</span> : null}
                </span>
                {reply.reasoning ? (
                  <details class="reasoning">
                    <summary>Reasoning ({reply.reasoning.length} characters)</summary>
                    <div class="text">{reply.reasoning}</div>
                  </details>
                ) : null}
                <div class="text" data-testid="reply" aria-live="polite">
                  {reply.content}
                  {reply.streaming ? <span class="cursor" aria-hidden="true">▍</span> : null}
                </div>
                {reply.toolCalls.length > 0 && !reply.streaming ? <p class="hint">The playground does not run tools: these calls are shown, not answered, and left out of the next request.</p> : null}
                {reply.toolCalls.map((call) => (
                  <div class="tool-call" key={call.id}>
                    <span class="hint">Tool call</span> <span class="mono">{call.name}</span>
                    <pre class="mono">{call.arguments}</pre>
                  </div>
                ))}
                {reply.error ? (
                  <p class="error" role="alert">
                    {reply.error}
                  </p>
                ) : null}
                {!reply.streaming ? (
                  <p class="hint">
                    {reply.finish ? `finish_reason: ${reply.finish}` : ''}
                    {reply.auditId ? (
                      <>
                        {' · '}
                        <a href={`#/requests/${reply.auditId}`}>audit record</a>
                      </>
                    ) : null}
                  </p>
                ) : null}
              </li>
            ) : null}
          </ol>
        </section>
      </div>

      <section class="card code" aria-labelledby="code-title">
        <div class="audit-head">
          <h2 id="code-title">The same request in code</h2>
          <div class="segmented" role="group" aria-label="Language">
            {(['curl', 'python', 'javascript'] as const).map((entry) => (
              <button type="button" key={entry} aria-pressed={language === entry} onClick={() => setLanguage(entry)}>
                {entry === 'curl' ? 'curl' : entry === 'python' ? 'Python' : 'JavaScript'}
              </button>
            ))}
          </div>
        </div>
        <pre class="mono" tabIndex={0} aria-label={`${language} code`}>
          {code}
        </pre>
        <p class="hint">Use an API key from Settings → API keys; the playground itself calls as the admin.</p>
      </section>
    </>
  );
}

function snippet(language: Language, request: Record<string, unknown>): string {
  const base = `${location.origin}/v1`;
  const json = JSON.stringify(request, null, 2);
  if (language === 'curl') {
    return `curl ${base}/chat/completions \\\n  -H "Authorization: Bearer $SWITCHYARD_API_KEY" \\\n  -H "Content-Type: application/json" \\\n  -d '${json.replace(/'/g, "'\\''")}'`;
  }
  const { stream: _stream, ...rest } = request;
  const args = JSON.stringify({ ...rest, stream: true }, null, 4);
  if (language === 'python') {
    const pythonArgs = pythonLiteral({ ...rest, stream: true }, '');
    return `from openai import OpenAI\n\nclient = OpenAI(base_url="${base}", api_key=os.environ["SWITCHYARD_API_KEY"])\n\nstream = client.chat.completions.create(**${pythonArgs})\nfor chunk in stream:\n    if chunk.choices and chunk.choices[0].delta.content:\n        print(chunk.choices[0].delta.content, end="", flush=True)`.replace('from openai', 'import os\nfrom openai');
  }
  return `import OpenAI from 'openai';\n\nconst client = new OpenAI({ baseURL: '${base}', apiKey: process.env.SWITCHYARD_API_KEY });\n\nconst stream = await client.chat.completions.create(${args});\nfor await (const chunk of stream) {\n  process.stdout.write(chunk.choices[0]?.delta?.content ?? '');\n}`;
}

/**
 * A JSON value as a Python literal: `true`/`false`/`null` become `True`/`False`/`None` as values only,
 * never inside a string (a message saying "true" stays "true").
 */
function pythonLiteral(value: unknown, indent: string): string {
  if (value === null || value === undefined) return 'None';
  if (value === true) return 'True';
  if (value === false) return 'False';
  if (typeof value === 'number' || typeof value === 'string') return JSON.stringify(value);
  const inner = `${indent}    `;
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    return `[\n${value.map((item) => `${inner}${pythonLiteral(item, inner)}`).join(',\n')}\n${indent}]`;
  }
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length === 0) return '{}';
  return `{\n${entries.map(([key, item]) => `${inner}${JSON.stringify(key)}: ${pythonLiteral(item, inner)}`).join(',\n')}\n${indent}}`;
}
