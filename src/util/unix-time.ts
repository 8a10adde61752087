/**
 * The latest time the platform takes anywhere it stores or filters by time (key expiries, the
 * request log's `since` / `until`): 9999-12-31T23:59:59Z. Its milliseconds fit the store's bigint
 * columns and a JavaScript `Date` (which ends at 8.64e15 ms), and it prints as a plain ISO time.
 */
export const LATEST_UNIX_SECONDS = 253_402_300_799;
export const LATEST_TIME_MS = LATEST_UNIX_SECONDS * 1000;
export const LATEST_TIME_TEXT = '9999-12-31T23:59:59Z';

/** An ISO time for display; a value no `Date` can hold (a row written before the bound) as its raw number, never a throw. */
export function isoTime(ms: number): string {
  const date = new Date(ms);
  return Number.isNaN(date.getTime()) ? String(ms) : date.toISOString();
}

/** `YYYY-MM-DD` naming a day of the calendar: `2025-13-45` and `2025-02-30` (which `Date.parse` rolls over into March) are not. */
export function isCalendarDay(text: string): boolean {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(text)) return false;
  const time = Date.parse(`${text}T00:00:00Z`);
  return !Number.isNaN(time) && new Date(time).toISOString().slice(0, 10) === text;
}
