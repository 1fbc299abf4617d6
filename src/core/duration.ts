import { invalidInput } from './errors.ts';

/**
 * Durations as people write them on a command line at 3 a.m.: `90s`, `30m`, `2h`,
 * `1h30m`, `7d`. Whole numbers only; zero, negatives, decimals, exponents and spaces are
 * rejected rather than guessed at. Values are returned in seconds.
 */
const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };
const MAX_SECONDS = 366 * 86400; // nothing in Keyshift lasts longer than a year

export function parseDuration(input: unknown, what = 'duration'): number {
  if (typeof input !== 'string' || !/^(\d{1,7}[smhd])+$/.test(input)) {
    throw invalidInput(
      `${what} ${JSON.stringify(input)} is not a duration; write it like 90s, 30m, 2h or 1h30m`,
    );
  }
  let total = 0;
  for (const [, n, unit] of input.matchAll(/(\d+)([smhd])/g)) {
    total += Number(n) * UNIT_SECONDS[unit as string]!;
  }
  if (total <= 0) throw invalidInput(`${what} ${JSON.stringify(input)} must be longer than zero`);
  if (total > MAX_SECONDS) throw invalidInput(`${what} ${JSON.stringify(input)} is longer than a year`);
  return total;
}

export function formatDuration(seconds: number): string {
  if (seconds <= 0) return '0s';
  const parts: string[] = [];
  let rest = Math.round(seconds);
  for (const [unit, size] of [['d', 86400], ['h', 3600], ['m', 60], ['s', 1]] as const) {
    if (rest >= size) {
      parts.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    }
  }
  return parts.join('');
}
