/**
 * The `extend` limits of a profile, as one pure check used when an extension is asked
 * for, inside the transaction that records it, and again when it is applied — so
 * parallel requests cannot together exceed `max_times` or `max_total`.
 */
import type { Grant } from './model.ts';
import type { Profile } from './profile.ts';
import { formatDuration } from './duration.ts';

export interface ExtensionsInFlight {
  /** Approved extension requests of this grant not yet applied. */
  count: number;
  seconds: number;
}

export function extensionProblem(g: Grant, profile: Profile, bySeconds: number, now: Date, inFlight: ExtensionsInFlight = { count: 0, seconds: 0 }): string | null {
  if (!profile.extend) return `profile ${g.profile} does not allow extensions`;
  const used = g.extensions + inFlight.count;
  if (used >= profile.extend.maxTimes) {
    return `grant ${g.id} has been extended ${used} time${used === 1 ? '' : 's'}${inFlight.count ? ` (${inFlight.count} approved, not yet applied)` : ''}; ${g.profile} allows ${profile.extend.maxTimes}`;
  }
  const activated = Date.parse(g.activated_at ?? g.created_at);
  const end = Date.parse(g.ends_at!) + inFlight.seconds * 1000;
  const total = (end + bySeconds * 1000 - activated) / 1000;
  if (total > profile.extend.maxTotalSeconds) {
    return `extending by ${formatDuration(bySeconds)} would make grant ${g.id} last ${formatDuration(total)}; ${g.profile} allows at most ${formatDuration(profile.extend.maxTotalSeconds)} in total`;
  }
  const elapsedPct = ((now.getTime() - activated) / (Date.parse(g.ends_at!) - activated)) * 100;
  if (elapsedPct < profile.extend.afterElapsedPercent) {
    return `grant ${g.id} can be extended once ${profile.extend.afterElapsedPercent}% of it has elapsed (now ${Math.floor(elapsedPct)}%)`;
  }
  return null;
}
