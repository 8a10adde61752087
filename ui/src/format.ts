const numberFormat = new Intl.NumberFormat('en');

export const formatNumber = (value: number | null | undefined) => (value === null || value === undefined ? '—' : numberFormat.format(value));

export function formatTime(seconds: number | null | undefined): string {
  if (!seconds) return '—';
  return new Date(seconds * 1000).toLocaleString('en-GB', { dateStyle: 'medium', timeStyle: 'medium' });
}

export function formatRelative(seconds: number | null | undefined): string {
  if (!seconds) return 'never';
  const delta = Date.now() / 1000 - seconds;
  const future = delta < 0;
  const abs = Math.abs(delta);
  const text =
    abs < 60 ? `${Math.round(abs)} s` : abs < 3600 ? `${Math.round(abs / 60)} min` : abs < 86_400 ? `${Math.round(abs / 3600)} h` : `${Math.round(abs / 86_400)} d`;
  return future ? `in ${text}` : `${text} ago`;
}

export function formatMs(value: number | null | undefined): string {
  if (value === null || value === undefined) return '—';
  return value >= 1000 ? `${(value / 1000).toFixed(2)} s` : `${Math.round(value)} ms`;
}

export function formatUsd(value: number): string {
  return value === 0 ? '$0' : value < 0.01 ? `$${value.toFixed(6)}` : `$${value.toFixed(2)}`;
}

export function formatPercent(value: number | null | undefined): string {
  return value === null || value === undefined ? '—' : `${(value * 100).toFixed(value < 0.1 ? 1 : 0)}%`;
}
