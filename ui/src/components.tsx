import type { ComponentChildren } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

/** Loads data, reloads on demand and when `deps` change; errors are kept, not thrown. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]): { data: T | undefined; error: Error | undefined; loading: boolean; reload: () => void } {
  const [state, setState] = useState<{ data: T | undefined; error: Error | undefined; loading: boolean }>({ data: undefined, error: undefined, loading: true });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    setState((previous) => ({ ...previous, loading: true }));
    load().then(
      (data) => live && setState({ data, error: undefined, loading: false }),
      (error: Error) => live && setState((previous) => ({ data: previous.data, error, loading: false })),
    );
    return () => {
      live = false;
    };
  }, [...deps, tick]);
  const reload = useCallback(() => setTick((value) => value + 1), []);
  return { ...state, reload };
}

export function ErrorNote({ error }: { error: Error | undefined | null }) {
  if (!error) return null;
  return (
    <p class="error" role="alert">
      {error.message}
    </p>
  );
}

export function PageHeader({ title, children }: { title: string; children?: ComponentChildren }) {
  return (
    <header class="page-header">
      <h1 tabIndex={-1} id="page-title">
        {title}
      </h1>
      {children ? <div class="page-actions">{children}</div> : null}
    </header>
  );
}

export function Badge({ tone, children }: { tone: 'live' | 'test' | 'ok' | 'warn' | 'bad' | 'muted'; children: ComponentChildren }) {
  return <span class={`badge badge-${tone}`}>{children}</span>;
}

export function statusTone(status: string): 'ok' | 'warn' | 'bad' | 'muted' {
  if (status === 'active' || status === 'completed' || status === 'closed' || status === 'loaded') return 'ok';
  if (status === 'rotated' || status === 'half_open' || status === 'aborted' || status === 'unloaded') return 'warn';
  if (status === 'revoked' || status === 'expired' || status === 'failed' || status === 'open' || status === 'rejected') return 'bad';
  return 'muted';
}

async function copyText(text: string): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    return false;
  }
}

/** A secret shown once: readonly, selected on focus, with a copy button and a clear warning. */
export function SecretOnce({ label, value, children, onDone }: { label: string; value: string; children?: ComponentChildren; onDone: () => void }) {
  const [copied, setCopied] = useState<'idle' | 'copied' | 'select'>('idle');
  const input = useRef<HTMLInputElement>(null);
  useEffect(() => input.current?.focus(), []);
  return (
    <section class="secret" aria-labelledby="secret-title">
      <h2 id="secret-title">{label}</h2>
      <p>Copy it now: it is shown only once and cannot be retrieved later.</p>
      <div class="secret-row">
        <label class="sr-only" for="secret-value">
          Secret
        </label>
        <input id="secret-value" ref={input} class="mono" readOnly value={value} onFocus={(event) => (event.currentTarget as HTMLInputElement).select()} />
        <button
          type="button"
          onClick={async () => {
            const ok = await copyText(value);
            if (!ok) input.current?.select();
            setCopied(ok ? 'copied' : 'select');
          }}
        >
          Copy
        </button>
      </div>
      <p role="status" class="hint">
        {copied === 'copied' ? 'Copied to the clipboard.' : copied === 'select' ? 'The clipboard is not available here: the secret is selected, press Ctrl+C.' : ''}
      </p>
      {children}
      <button type="button" class="secondary" onClick={onDone}>
        Done, I have stored it
      </button>
    </section>
  );
}

/** A modal confirmation (native <dialog>: focus is trapped and Escape cancels). */
export function ConfirmDialog(props: { title: string; children: ComponentChildren; confirmLabel: string; danger?: boolean; onConfirm: () => void; onCancel: () => void }) {
  const dialog = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const element = dialog.current;
    if (element && !element.open) element.showModal();
    return () => element?.close();
  }, []);
  return (
    <dialog ref={dialog} aria-labelledby="confirm-title" onCancel={props.onCancel} onClose={props.onCancel}>
      <form
        method="dialog"
        onSubmit={(event) => {
          event.preventDefault();
          props.onConfirm();
        }}
      >
        <h2 id="confirm-title">{props.title}</h2>
        {props.children}
        <div class="dialog-actions">
          <button type="button" class="secondary" onClick={props.onCancel}>
            Cancel
          </button>
          <button type="submit" class={props.danger ? 'danger' : ''} autofocus>
            {props.confirmLabel}
          </button>
        </div>
      </form>
    </dialog>
  );
}

export interface ChartSeries {
  label: string;
  values: Array<number | null>;
  color: string;
  dash?: number[];
}

/**
 * A line chart (uPlot) that fills its container's width. Screen readers get the caption and a
 * summary; the numbers themselves are in the tables beside each chart.
 */
export function Chart({ title, times, series, unit, summary }: { title: string; times: number[]; series: ChartSeries[]; unit: string; summary: string }) {
  const holder = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  useEffect(() => {
    const element = holder.current;
    if (!element) return;
    const styles = getComputedStyle(document.documentElement);
    const axisColor = styles.getPropertyValue('--muted').trim() || '#555';
    const gridColor = styles.getPropertyValue('--grid').trim() || '#ddd';
    const axis = { stroke: axisColor, grid: { stroke: gridColor, width: 1 }, ticks: { stroke: gridColor, width: 1 } };
    const options: uPlot.Options = {
      width: Math.max(200, element.clientWidth),
      height: 200,
      legend: { show: true, live: false },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1] } },
      axes: [axis, { ...axis, size: unit ? 72 : 56, values: (_u, values) => values.map((value) => (unit === ' ms' && value >= 1000 ? `${compact(value / 1000)} s` : `${compact(value)}${unit}`)) }],
      series: [{}, ...series.map((entry) => ({ label: entry.label, stroke: entry.color, width: 2, ...(entry.dash ? { dash: entry.dash } : {}), points: { show: entry.values.filter((value) => value !== null).length < 40, size: 6, fill: entry.color }, spanGaps: false }))],
    };
    plot.current?.destroy();
    plot.current = new uPlot(options, [times, ...series.map((entry) => entry.values)] as uPlot.AlignedData, element);
    const observer = new ResizeObserver(() => plot.current?.setSize({ width: Math.max(200, element.clientWidth), height: 200 }));
    observer.observe(element);
    return () => {
      observer.disconnect();
      plot.current?.destroy();
      plot.current = null;
    };
  }, [times, series, unit]);
  return (
    <figure class="chart">
      <figcaption>{title}</figcaption>
      <div ref={holder} role="img" aria-label={`${title}: ${summary}`} />
    </figure>
  );
}

function compact(value: number): string {
  if (Math.abs(value) >= 1_000_000) return `${+(value / 1_000_000).toFixed(1)}M`;
  if (Math.abs(value) >= 1000) return `${+(value / 1000).toFixed(1)}k`;
  return `${+value.toFixed(2)}`;
}
