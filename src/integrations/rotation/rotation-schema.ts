/**
 * The `oncall:` block of keyshift.yaml: built-in rotation schedules, for teams without
 * PagerDuty (see docs/oncall.md). The schema checks shape only; `validateOnCallConfig`
 * checks meaning (time zones, calendar dates, overlapping overrides…) and must run after
 * a successful parse. Problems carry their key path so the config loader can point at the
 * YAML line (`onCallConfigProblems` gives the path as an array for that).
 *
 * It also holds what a local date-time in a time zone means (the `Local date-times`
 * section below), shared by validation and by rotation-source.ts.
 */
import { z } from 'zod';

const SCHEDULE_NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;
/** Shape only; calendar validity (no 2026-02-30, no 25:00) is checked by validateOnCallConfig. */
const LOCAL_DATE_TIME_SHAPE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$/;

const email = z.string().regex(/^[^\s@]+@[^\s@]+$/, 'expected an email address');
const localDateTime = z
  .string()
  .regex(LOCAL_DATE_TIME_SHAPE, 'expected a local date-time like "2026-01-05T09:00", without an offset (times are in the schedule\'s time_zone)');

export const RotationLevelSchema = z
  .object({
    rotation: z.enum(['weekly', 'daily']),
    /** Local date-time in the schedule's zone when members[0]'s first shift starts; its time of day is the hand-off time. */
    start: localDateTime,
    members: z.array(email),
  })
  .strict();

export const RotationOverrideSchema = z
  .object({
    /** 1 = first escalation level. */
    level: z.number().int(),
    user: email,
    start: localDateTime,
    end: localDateTime,
  })
  .strict();

export const RotationScheduleSchema = z
  .object({
    time_zone: z.string().min(1),
    levels: z.array(RotationLevelSchema).min(1, 'a schedule needs at least one level'),
    overrides: z.array(RotationOverrideSchema).default([]),
  })
  .strict();

export const OnCallConfigSchema = z
  .object({
    schedules: z.record(
      z.string().regex(SCHEDULE_NAME, 'schedule names use a-z, 0-9, - and _ (up to 63 characters)'),
      RotationScheduleSchema,
    ),
  })
  .strict();

export type RotationLevel = z.infer<typeof RotationLevelSchema>;
export type RotationOverride = z.infer<typeof RotationOverrideSchema>;
export type RotationSchedule = z.infer<typeof RotationScheduleSchema>;
export type OnCallConfig = z.infer<typeof OnCallConfigSchema>;

export interface OnCallConfigProblem {
  /** Key path from the top of keyshift.yaml, e.g. ['oncall', 'schedules', 'primary', 'overrides', 1]. */
  path: Array<string | number>;
  message: string;
}

/**
 * Problems with a parsed `oncall` block, as `key.path: message` lines; [] when it is
 * usable. Pure; never throws.
 */
export function validateOnCallConfig(cfg: OnCallConfig): string[] {
  return onCallConfigProblems(cfg).map((p) => `${p.path.join('.')}: ${p.message}`);
}

export function onCallConfigProblems(cfg: OnCallConfig): OnCallConfigProblem[] {
  const problems: OnCallConfigProblem[] = [];
  for (const [name, schedule] of Object.entries(cfg.schedules)) {
    const base = ['oncall', 'schedules', name];
    const problem = (path: Array<string | number>, message: string) => problems.push({ path: [...base, ...path], message });

    const zoneOk = isTimeZone(schedule.time_zone);
    if (!zoneOk) problem(['time_zone'], `unknown time zone ${JSON.stringify(schedule.time_zone)}; use an IANA name such as "Europe/Berlin" or "America/New_York"`);

    const localTime = (value: string, path: Array<string | number>): number | null => {
      const wall = parseLocalDateTime(value);
      if (wall === null) problem(path, `${JSON.stringify(value)} is not a valid local date-time (expected YYYY-MM-DDTHH:MM with a real date and time)`);
      return wall;
    };

    schedule.levels.forEach((level, i) => {
      localTime(level.start, ['levels', i, 'start']);
      if (level.members.length === 0) problem(['levels', i, 'members'], 'a rotation needs at least one member');
      const seen = new Map<string, number>();
      level.members.forEach((member, j) => {
        const key = member.toLowerCase();
        const first = seen.get(key);
        if (first !== undefined) problem(['levels', i, 'members', j], `${member} is already listed as members.${first} (emails compare case-insensitively)`);
        else seen.set(key, j);
      });
    });

    const windows: Array<{ index: number; level: number; start: number; end: number }> = [];
    schedule.overrides.forEach((o, i) => {
      if (o.level < 1 || o.level > schedule.levels.length) {
        problem(['overrides', i, 'level'], `level ${o.level} is out of range: schedule ${name} has ${schedule.levels.length} level${schedule.levels.length === 1 ? '' : 's'} (1 = first escalation level)`);
      }
      const start = localTime(o.start, ['overrides', i, 'start']);
      const end = localTime(o.end, ['overrides', i, 'end']);
      if (start === null || end === null) return;
      // Compare real instants where the zone is known: local times inside a DST gap or
      // overlap can read in a different order than they happen.
      const window = zoneOk ? { index: i, level: o.level, start: wallToInstant(start, schedule.time_zone), end: wallToInstant(end, schedule.time_zone) } : { index: i, level: o.level, start, end };
      if (window.end <= window.start) {
        problem(['overrides', i, 'end'], `end ${o.end} is not after start ${o.start}${end > start ? ` (in ${schedule.time_zone}, a DST change makes them the same instant or reverses them)` : ''}`);
        return;
      }
      windows.push(window);
    });
    for (const w of windows) {
      const clash = windows.find((v) => v.index < w.index && v.level === w.level && v.start < w.end && w.start < v.end);
      if (clash) {
        const a = schedule.overrides[clash.index]!;
        const b = schedule.overrides[w.index]!;
        problem(
          ['overrides', w.index],
          `overlaps overrides.${clash.index} on level ${w.level} (${b.user} ${formatWall(parseLocalDateTime(b.start)!)}–${formatWall(parseLocalDateTime(b.end)!)} vs ${a.user} ${formatWall(parseLocalDateTime(a.start)!)}–${formatWall(parseLocalDateTime(a.end)!)} ${schedule.time_zone})`,
        );
      }
    }
  }
  return problems;
}

// ---------------------------------------------------------------------------------------
// Local date-times. A "wall time" is a local date-time written as milliseconds of the same
// calendar reading in UTC (2026-03-29T09:00 → Date.UTC(2026, 2, 29, 9, 0)), so calendar
// arithmetic (add one day) is plain addition and never sees DST; converting a wall time to
// an instant is where the time zone comes in.

export const MINUTE_MS = 60_000;
export const DAY_MS = 86_400_000;

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    // Throws RangeError for a zone ICU does not know.
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
      era: 'short',
    });
    formatters.set(timeZone, f);
  }
  return f;
}

/** True for an IANA zone name Node's ICU knows (e.g. "Europe/Berlin", "UTC"). */
export function isTimeZone(timeZone: string): boolean {
  try {
    formatter(timeZone);
    return true;
  } catch {
    return false;
  }
}

/** "2026-01-05T09:00" or "2026-01-05T09:00:30" → wall time; null when not a real date and time. */
export function parseLocalDateTime(value: string): number | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?$/.exec(value);
  if (!m) return null;
  const [y, mo, d, h, mi, s] = [m[1], m[2], m[3], m[4], m[5], m[6] ?? '0'].map(Number) as [number, number, number, number, number, number];
  if (y < 1970 || mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || s > 59) return null;
  const wall = Date.UTC(y, mo - 1, d, h, mi, s);
  // Date.UTC rolls 2026-02-30 over to March 2; a real date reads back unchanged.
  return new Date(wall).getUTCDate() === d ? wall : null;
}

/** The local reading of `instant` (ms) in `timeZone`, as a wall time (keeps the milliseconds). */
export function instantToWall(instant: number, timeZone: string): number {
  const second = Math.floor(instant / 1000) * 1000;
  const parts: Record<string, string> = {};
  for (const p of formatter(timeZone).formatToParts(new Date(second))) parts[p.type] = p.value;
  const year = parts.era === 'BC' || parts.era === 'B' ? 1 - Number(parts.year) : Number(parts.year);
  const wall = Date.UTC(year, Number(parts.month) - 1, Number(parts.day), Number(parts.hour), Number(parts.minute), Number(parts.second));
  return wall + (instant - second);
}

/** UTC offset of `timeZone` at `instant`, in ms (Berlin in summer: +7,200,000). */
function offsetAt(instant: number, timeZone: string): number {
  return instantToWall(instant, timeZone) - instant;
}

/**
 * The instant a wall time happens in `timeZone`. Like Temporal's "compatible"
 * disambiguation: a time that occurs twice (fall-back overlap) is its first occurrence; a
 * time that does not exist (spring-forward gap) is moved forward by the gap (02:30 on the
 * Berlin spring-forward day is 03:30 CEST).
 */
export function wallToInstant(wall: number, timeZone: string): number {
  // Memoized: hand-off times repeat across checks, and each conversion costs four ICU calls.
  const key = `${timeZone} ${wall}`;
  let instant = instants.get(key);
  if (instant === undefined) {
    if (instants.size >= 50_000) instants.clear();
    instant = computeWallToInstant(wall, timeZone);
    instants.set(key, instant);
  }
  return instant;
}

const instants = new Map<string, number>();

function computeWallToInstant(wall: number, timeZone: string): number {
  const before = offsetAt(wall - DAY_MS, timeZone);
  const after = offsetAt(wall + DAY_MS, timeZone);
  const early = wall - before;
  const late = wall - after;
  const earlyOk = offsetAt(early, timeZone) === before;
  const lateOk = offsetAt(late, timeZone) === after;
  if (earlyOk && lateOk) return Math.min(early, late);
  if (earlyOk) return early;
  if (lateOk) return late;
  return early; // in the gap: read with the offset in force before it, i.e. moved forward
}

/** "2026-03-09 09:00" (seconds only when not zero). */
export function formatWall(wall: number): string {
  const iso = new Date(wall).toISOString();
  const seconds = iso.slice(16, 19);
  return `${iso.slice(0, 10)} ${iso.slice(11, 16)}${seconds === ':00' ? '' : seconds}`;
}
