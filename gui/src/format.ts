/** How times and sizes read on screen (as `meshcp inspect` prints them: "3m ago", UTC dates). */

export function ago(iso: string | undefined, now: number = Date.now()): string {
  if (iso === undefined) return '—';
  const seconds = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  return `${span(seconds)} ago`;
}

/** `in 3d 4h`, or `expired 2h ago`. */
export function until(iso: string | undefined, now: number = Date.now()): string {
  if (iso === undefined) return '—';
  const seconds = Math.round((Date.parse(iso) - now) / 1000);
  return seconds >= 0 ? `in ${span(seconds)}` : `expired ${span(-seconds)} ago`;
}

export function span(seconds: number): string {
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m${seconds % 60 ? ` ${seconds % 60}s` : ''}`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours}h${minutes % 60 ? ` ${minutes % 60}m` : ''}`;
  const days = Math.floor(hours / 24);
  return days < 730 ? `${days}d` : `${Math.floor(days / 365)}y`;
}

/** `2026-12-05 10:00 UTC`. */
export function utc(iso: string | undefined): string {
  if (iso === undefined) return '—';
  return `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`;
}

export function daysLeft(iso: string | undefined, now: number = Date.now()): number | undefined {
  return iso === undefined ? undefined : (Date.parse(iso) - now) / 86_400_000;
}

/** Long hex (serials, fingerprints) in groups, so it wraps and can be compared by eye. */
export function hexGroups(hex: string | undefined): string {
  if (hex === undefined) return '—';
  return hex.includes(':') ? hex : (hex.match(/.{1,2}/g) ?? []).join(':');
}
