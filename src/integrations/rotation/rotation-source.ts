/**
 * The built-in on-call source: rotations and overrides from keyshift.yaml's `oncall`
 * block (docs/oncall.md), for teams without PagerDuty. Pure computation over the config
 * and the given instant — no clock, no I/O — so auto-approval and `end_on: shift_end`
 * decisions are reproducible from the audit record.
 *
 * Hand-offs happen at the start's local time of day, every day or week, in the schedule's
 * time zone: DST moves the UTC hand-off, never the local one (a shift across a DST change
 * is an hour shorter or longer).
 */
import { KeyshiftError, invalidInput } from '../../core/errors.ts';
import type { OnCallCheck, OnCallSource } from '../../core/ports.ts';
import {
  DAY_MS,
  formatWall,
  instantToWall,
  onCallConfigProblems,
  parseLocalDateTime,
  wallToInstant,
} from './rotation-schema.ts';
import type { OnCallConfig, RotationSchedule } from './rotation-schema.ts';

/** Who holds one level of a schedule at an instant, and for which stretch of time. */
export interface OnCallShift {
  /** As spelled in the config. */
  user: string;
  /** Inclusive. */
  shiftStart: Date;
  /**
   * Exclusive: the next hand-off, or an override's end. A rotation shift is cut short
   * where an override on the same level begins, and starts late where one ends, so
   * `user` holds the level for the whole of [shiftStart, shiftEnd).
   */
  shiftEnd: Date;
  via: 'rotation' | 'override';
}

/** How far ahead `check` follows a user holding consecutive shifts (a single-member rotation). */
const SHIFT_END_SEARCH_MS = 366 * DAY_MS;

/**
 * Who is on call for `level` (1 = first escalation level) of `schedule` at `at`; null when
 * nobody is: before the level's rotation starts (and no override covers the instant), or
 * for a level the schedule does not have. Assumes a config that passed validateOnCallConfig.
 */
export function whoIsOnCall(schedule: RotationSchedule, level: number, at: Date): OnCallShift | null {
  const rotation = schedule.levels[level - 1];
  if (!rotation || !Number.isInteger(level)) return null;
  const t = at.getTime();
  const overrides = overrideWindows(schedule, level);

  const active = overrides.find((o) => o.start <= t && t < o.end);
  if (active) return { user: active.user, shiftStart: new Date(active.start), shiftEnd: new Date(active.end), via: 'override' };

  const slot = rotationSlot(schedule, level, t);
  if (!slot) return null;
  // Trim the rotation shift to the stretch between overrides that contains `t`.
  let start = slot.start;
  let end = slot.end;
  for (const o of overrides) {
    if (o.end <= t && o.end > start) start = o.end;
    if (o.start > t && o.start < end) end = o.start;
  }
  return { user: rotation.members[slot.index % rotation.members.length]!, shiftStart: new Date(start), shiftEnd: new Date(end), via: 'rotation' };
}

/**
 * The rotation shift (ignoring overrides) holding `t`: its number since the level's start
 * and its bounds in ms; null before the start.
 */
function rotationSlot(schedule: RotationSchedule, level: number, t: number): { index: number; start: number; end: number } | null {
  const rotation = schedule.levels[level - 1]!;
  const zone = schedule.time_zone;
  const first = parseLocalDateTime(rotation.start)!;
  const period = rotation.rotation === 'weekly' ? 7 * DAY_MS : DAY_MS;
  // Shift k starts at the k-th hand-off: the start's wall time plus k periods, read in the zone.
  const handOff = (k: number) => wallToInstant(first + k * period, zone);
  if (t < handOff(0)) return null;
  // Estimate from the local reading, then step: wall time and instants differ by at most a
  // DST change, and a gap can make one hand-off coincide with the next.
  let k = Math.max(0, Math.floor((instantToWall(t, zone) - first) / period));
  while (k > 0 && handOff(k) > t) k--;
  while (handOff(k + 1) <= t) k++;
  return { index: k, start: handOff(k), end: handOff(k + 1) };
}

function overrideWindows(schedule: RotationSchedule, level: number) {
  return schedule.overrides
    .filter((o) => o.level === level)
    .map((o) => ({
      user: o.user,
      start: wallToInstant(parseLocalDateTime(o.start)!, schedule.time_zone),
      end: wallToInstant(parseLocalDateTime(o.end)!, schedule.time_zone),
    }));
}

/**
 * The OnCallSource port over a validated `oncall` block (throws CONFIG_INVALID for one
 * that is not). `check` never throws for "not on call"; its `detail` names who is, for the
 * approver. Emails compare case-insensitively.
 */
export function createRotationSource(cfg: OnCallConfig | undefined): OnCallSource {
  const schedules = cfg?.schedules ?? {};
  const problems = cfg ? onCallConfigProblems(cfg) : [];
  if (problems.length) {
    throw new KeyshiftError('CONFIG_INVALID', `invalid oncall configuration:\n  ${problems.map((p) => `${p.path.join('.')}: ${p.message}`).join('\n  ')}`);
  }

  return {
    async check(user: string, scheduleName: string, levels: number[], at: Date): Promise<OnCallCheck> {
      const schedule = Object.hasOwn(schedules, scheduleName) ? schedules[scheduleName] : undefined;
      if (!schedule) {
        const known = Object.keys(schedules);
        throw new KeyshiftError('NOT_FOUND', `on-call schedule ${JSON.stringify(scheduleName)} not found (configured: ${known.join(', ') || 'none'})`, {
          details: { schedule: scheduleName },
        });
      }
      if (Number.isNaN(at.getTime())) throw invalidInput(`on-call check at an invalid time for ${JSON.stringify(user)}`);
      const wanted = [...new Set(levels)];
      const me = user.toLowerCase();
      const zone = schedule.time_zone;
      const when = (d: Date) => `${d.toISOString()} (${formatWall(instantToWall(d.getTime(), zone))} ${zone})`;
      const holds = (t: Date) => wanted.filter((l) => whoIsOnCall(schedule, l, t)?.user.toLowerCase() === me);

      const mine = wanted.map((l) => ({ level: l, shift: whoIsOnCall(schedule, l, at) })).find((x) => x.shift?.user.toLowerCase() === me);
      if (mine?.shift) {
        const { level, shift } = mine;
        // The grant should last as long as the user stays on call at any requested level,
        // across consecutive shifts (a single-member rotation, an override followed by the
        // user's own shift, level 1 handing over to level 2…). Capped: "at least until".
        const cap = at.getTime() + SHIFT_END_SEARCH_MS;
        let end = at;
        let capped = false;
        for (let held = holds(end); held.length; held = holds(end)) {
          if (end.getTime() >= cap) {
            capped = true; // stop at the first hand-off a year out
            break;
          }
          end = new Date(Math.max(...held.map((l) => whoIsOnCall(schedule, l, end)!.shiftEnd.getTime())));
        }
        const how = shift.via === 'override' ? 'override' : `${schedule.levels[level - 1]!.rotation} rotation`;
        return {
          onCall: true,
          detail: `${shift.user} is on call for ${scheduleName} (level ${level}, ${how}) ${capped ? 'at least until' : 'until'} ${when(end)}.`,
          shiftEndsAt: end,
        };
      }

      const others = wanted.map((l) => {
        const rotation = Number.isInteger(l) ? schedule.levels[l - 1] : undefined;
        if (!rotation) return `${scheduleName} has no level ${l} (it has ${schedule.levels.length})`;
        const shift = whoIsOnCall(schedule, l, at);
        if (shift) return `level ${l} is ${shift.user} (${shift.via === 'override' ? 'override' : `${rotation.rotation} rotation`}) until ${when(shift.shiftEnd)}`;
        const first = new Date(wallToInstant(parseLocalDateTime(rotation.start)!, zone));
        return `nobody is on call at level ${l}, whose rotation starts ${when(first)}`;
      });
      const levelsText = wanted.length === 0 ? 'no level (none requested)' : `level${wanted.length > 1 ? 's' : ''} ${wanted.join(', ')}`;
      return {
        onCall: false,
        detail: `${user} is not on call for ${scheduleName} at ${levelsText} at ${when(at)}${others.length ? `; ${others.join('; ')}` : ''}.`,
        shiftEndsAt: null,
      };
    },
  };
}
