import { useEffect, useRef, useState } from 'preact/hooks';
import { api, type ModelState } from '../api.js';
import { Badge, ErrorNote, PageHeader, statusTone, useLoad } from '../components.js';
import { formatNumber, formatPercent } from '../format.js';

interface AliasRoute {
  alias: string;
  strategy: string;
  retries: number;
  targets: Array<{ model: string; weight: number; circuit: { state: string; consecutive_failures: number } }>;
}

export function ModelsPage() {
  const data = useLoad(async () => {
    const [routes, models] = await Promise.all([api<{ data: AliasRoute[] }>('GET', '/routes'), api<{ data: ModelState[]; recent_window_seconds: number }>('GET', '/models')]);
    return { routes: routes.data, models: models.data, window: models.recent_window_seconds };
  }, []);
  const models = new Map((data.data?.models ?? []).map((model) => [model.id, model]));
  const local = (data.data?.models ?? []).filter((model) => model.loaded !== null);
  const minutes = Math.round((data.data?.window ?? 900) / 60);

  return (
    <>
      <PageHeader title="Models & routes">
        <button type="button" class="secondary" onClick={data.reload}>
          Refresh
        </button>
      </PageHeader>
      <ErrorNote error={data.error} />
      <h2>Aliases</h2>
      <div class="table-wrap">
        <table>
          <thead>
            <tr>
              <th scope="col">Alias</th>
              <th scope="col">Strategy</th>
              <th scope="col">Targets, in order (circuit · errors in the last {minutes} min)</th>
            </tr>
          </thead>
          <tbody>
            {(data.data?.routes ?? []).map((route) => (
              <tr key={route.alias}>
                <td class="mono">{route.alias}</td>
                <td>
                  {route.strategy}
                  {route.retries > 0 ? `, ${route.retries} retries` : ''}
                </td>
                <td>
                  <ol class="targets">
                    {route.targets.map((target) => (
                      <li key={target.model}>
                        <span class="mono">{target.model}</span>
                        {route.strategy === 'weighted' ? <span class="hint"> weight {target.weight}</span> : null} <Badge tone={statusTone(target.circuit.state)}>circuit {target.circuit.state.replace('_', '-')}</Badge>{' '}
                        <span class="hint">{formatPercent(models.get(target.model)?.recent_error_rate)}</span>
                      </li>
                    ))}
                  </ol>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>

      <h2>Models</h2>
      <div class="table-wrap">
        <table>
          <thead>
            <tr>
              <th scope="col">Model</th>
              <th scope="col">Provider</th>
              <th scope="col">Circuit</th>
              <th scope="col" class="num">Requests ({minutes} min)</th>
              <th scope="col" class="num">Error rate</th>
            </tr>
          </thead>
          <tbody>
            {(data.data?.models ?? []).map((model) => (
              <tr key={model.id}>
                <td class="mono">{model.id}</td>
                <td>
                  {model.provider} <span class="hint">({model.kind})</span>
                </td>
                <td>
                  <Badge tone={statusTone(model.circuit)}>{model.circuit.replace('_', '-')}</Badge>
                  {model.consecutive_failures > 0 ? <span class="hint"> {model.consecutive_failures} failures in a row</span> : null}
                </td>
                <td class="num">{formatNumber(model.recent_requests)}</td>
                <td class="num">{formatPercent(model.recent_error_rate)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>

      <h2>Local models</h2>
      {local.length === 0 ? (
        <p class="hint">No embedded-engine models are configured. Add one with <span class="mono">switchyard pull</span> or <span class="mono">switchyard serve --model FILE.gguf</span>.</p>
      ) : (
        <ul class="local-models">
          {local.map((model) => (
            <li key={model.id}>
              <span class="mono">{model.id}</span> <Badge tone={model.loaded ? 'ok' : 'muted'}>{model.loaded ? 'loaded' : 'unloaded'}</Badge>
            </li>
          ))}
        </ul>
      )}
      <PullModel />
    </>
  );
}

interface PullJob {
  id: string;
  uri: string;
  status: 'downloading' | 'completed' | 'failed' | 'cancelled';
  downloaded_bytes: number;
  total_bytes: number;
  bytes_per_second: number;
  eta_seconds: number | null;
  file: string | null;
  error: string | null;
}

const mb = (bytes: number) => `${(bytes / 1048576).toFixed(1)} MB`;

/** Pull a GGUF into the model cache, with its progress as it downloads (size, speed, ETA). */
function PullModel() {
  const [uri, setUri] = useState('');
  const [job, setJob] = useState<PullJob | undefined>();
  const [error, setError] = useState<Error | undefined>();
  const timer = useRef<number | undefined>(undefined);
  useEffect(() => () => clearTimeout(timer.current), []);

  const follow = (id: string) => {
    timer.current = window.setTimeout(async () => {
      try {
        const next = await api<PullJob>('GET', `/models/pulls/${id}`);
        setJob(next);
        if (next.status === 'downloading') follow(id);
      } catch (failure) {
        setError(failure as Error);
      }
    }, 400);
  };
  const percent = job && job.total_bytes > 0 ? Math.floor((job.downloaded_bytes / job.total_bytes) * 100) : undefined;

  return (
    <section class="card" aria-labelledby="pull-title">
      <h2 id="pull-title">Pull a model</h2>
      <form
        class="inline-form"
        onSubmit={async (event) => {
          event.preventDefault();
          setError(undefined);
          try {
            const started = await api<PullJob>('POST', '/models/pulls', { uri: uri.trim() });
            setJob(started);
            if (started.status === 'downloading') follow(started.id);
          } catch (failure) {
            setError(failure as Error);
          }
        }}
      >
        <label class="form-stack grow">
          <span>GGUF to download</span>
          <input required value={uri} placeholder="hf:owner/repo/file.gguf, hf:owner/repo:Q4_K_M or https://…" onInput={(event) => setUri((event.currentTarget as HTMLInputElement).value)} />
        </label>
        <button type="submit" disabled={job?.status === 'downloading'}>
          Pull
        </button>
        {job?.status === 'downloading' ? (
          <button type="button" class="secondary" onClick={() => void api('DELETE', `/models/pulls/${job.id}`)}>
            Cancel
          </button>
        ) : null}
      </form>
      <ErrorNote error={error} />
      {job ? (
        <div class="pull-progress" aria-live="polite">
          <label for="pull-bar">{job.status === 'downloading' ? `Pulling ${job.uri}` : `${job.uri}: ${job.status}`}</label>
          <progress id="pull-bar" max={100} value={job.status === 'completed' ? 100 : percent}>
            {percent ?? 0}%
          </progress>
          <p class="hint" data-testid="pull-status">
            {job.status === 'completed'
              ? `Done: ${mb(job.total_bytes)} saved to ${job.file}. Serve it with switchyard serve --model ${job.file}, or add it to a llama provider's models.`
              : job.status === 'downloading'
                ? `${percent ?? 0}% · ${mb(job.downloaded_bytes)} of ${job.total_bytes > 0 ? mb(job.total_bytes) : '?'} · ${mb(job.bytes_per_second)}/s · ETA ${job.eta_seconds ?? '?'} s`
                : job.error}
          </p>
        </div>
      ) : null}
    </section>
  );
}
