import type { CliIo } from './io.ts';

/**
 * Where command output goes. With --json, stdout receives exactly one JSON value and
 * every human sentence goes to stderr, so `keyshift … --json | jq` always parses.
 */
export interface Output {
  readonly json: boolean;
  /** A line of the command's result (stdout); suppressed in --json mode. */
  line(s?: string): void;
  /** Progress and hints (stderr), in both modes. */
  info(s: string): void;
  /** The one JSON value of a --json run. */
  value(v: unknown): void;
  /** Raw text the user asked for (CSV, a report) on stdout, as-is. */
  raw(s: string): void;
  table(headers: string[], rows: string[][]): void;
}

export function createOutput(io: CliIo, json: boolean): Output {
  return {
    json,
    line: (s = '') => {
      if (!json) io.stdout(`${s}\n`);
    },
    info: (s) => io.stderr(`${s}\n`),
    value: (v) => io.stdout(`${JSON.stringify(v, null, 2)}\n`),
    raw: (s) => io.stdout(s.endsWith('\n') || s === '' ? s : `${s}\n`),
    table: (headers, rows) => {
      if (!json) io.stdout(renderTable(headers, rows));
    },
  };
}

/** Left-aligned columns two spaces apart; the last column is not padded. */
export function renderTable(headers: string[], rows: string[][]): string {
  const all = [headers, ...rows];
  const widths = headers.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  return all
    .map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ').trimEnd())
    .join('\n')
    .concat('\n');
}

/** `14m 32s`, `2h 5m`, `3d 4h`, `45s`: the two largest units, for reading at a glance. */
export function compactDuration(seconds: number): string {
  let rest = Math.max(0, Math.round(seconds));
  const parts: string[] = [];
  for (const [unit, size] of [['d', 86400], ['h', 3600], ['m', 60], ['s', 1]] as const) {
    if (rest >= size || (unit === 's' && parts.length === 0)) {
      parts.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    }
    if (parts.length === 2) break;
  }
  return parts.join(' ');
}

/** `in 14m 32s` or `3m 10s ago`, relative to now. */
export function relative(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return '-';
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return iso;
  const diff = (t - now) / 1000;
  if (Math.abs(diff) < 1) return 'just now';
  return diff >= 0 ? `in ${compactDuration(diff)}` : `${compactDuration(-diff)} ago`;
}

/** Only the remaining time (`14m 32s`), or `-` once it has passed. */
export function remaining(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return '-';
  const diff = (Date.parse(iso) - now) / 1000;
  return Number.isNaN(diff) || diff <= 0 ? '-' : compactDuration(diff);
}
