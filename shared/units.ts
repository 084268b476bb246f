/** How sizes and ages read, the same on the web pages and in the CLI. */

/** A size given in MiB: "512 MiB", "1.5 GiB", "20 GiB". */
export function mib(n: number): string {
  if (n >= 10240) return `${(n / 1024).toFixed(0)} GiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} GiB`;
  return `${n} MiB`;
}

/**
 * How long ago epoch-ms `ms` was: "3 s", "4 min", "2 h", "5 d"; compact ("3s", "4m", "2h", "5d") for
 * table columns split at spaces. Empty when unknown.
 */
export function age(ms: number | undefined, now: number, compact = false): string {
  if (ms === undefined) return '';
  const s = Math.max(0, Math.round((now - ms) / 1000));
  const [n, unit] = s < 90 ? [s, 's'] : s < 90 * 60 ? [Math.round(s / 60), 'min'] : s < 36 * 3600 ? [Math.round(s / 3600), 'h'] : [Math.round(s / 86400), 'd'];
  return compact ? `${n}${unit === 'min' ? 'm' : unit}` : `${n} ${unit}`;
}
