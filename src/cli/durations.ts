import { parseDuration } from '../core/duration.ts';
import { usageError } from './errors.ts';

/**
 * Checks a duration flag on this side of the wire, so a typo is a usage error (exit 2)
 * before anything is sent. The string itself is still what goes to the server: it is
 * the server that applies profile maximums.
 */
export function checkDuration(value: string, flag: string): string {
  if (!/^(\d+[smhd])+$/.test(value)) {
    throw usageError(`${flag} ${JSON.stringify(value)} is not a duration; write it like 90s, 30m, 2h or 1h30m`);
  }
  durationSeconds(value, flag);
  return value;
}

export function durationSeconds(value: string, flag: string): number {
  try {
    return parseDuration(value, flag);
  } catch (e) {
    throw usageError(e instanceof Error ? e.message : String(e));
  }
}
