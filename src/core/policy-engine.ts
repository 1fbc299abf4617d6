/**
 * Pure policy decisions. "No" is a result with reasons, not an exception: callers decide
 * whether to throw, to show (`policy explain`) or to record (audit details).
 */
import type { ApprovalRule, Directory, Profile } from './profile.ts';
import { matchesAny } from './profile.ts';
import { formatDuration } from './duration.ts';

export interface Approver {
  email: string;
  groups: string[];
}

export interface RuleStatus {
  index: number;
  approvers: string[];
  count: number;
  /** Approvers whose approval counts for this rule in the best assignment. */
  counted: string[];
  met: boolean;
}

export interface ApprovalTally {
  satisfied: boolean;
  rules: RuleStatus[];
  /** approver → rule index it counts for (null: counts for none, e.g. all rules already met). */
  assignment: Map<string, number | null>;
}

/**
 * Each rule needs `count` distinct approvers from its groups, and one person's approval
 * counts for one rule only. That is a bipartite matching of approvers to rule "seats";
 * augmenting paths find the best assignment, so the order approvals arrive in never
 * matters (a greedy pass would strand a DBA-and-security person on the wrong rule).
 * The requester never counts, whatever groups they are in.
 */
export function tallyApprovals(rules: ApprovalRule[], approvers: Approver[], requester: string): ApprovalTally {
  const seats: number[] = rules.flatMap((r, i) => Array.from({ length: r.count }, () => i));
  const seatHolder: (string | null)[] = seats.map(() => null);
  const people = approvers.filter((a) => a.email.toLowerCase() !== requester.toLowerCase());
  const eligible = (p: Approver, ruleIndex: number) => matchesAny(rules[ruleIndex]!.approvers, p);
  const byEmail = new Map(people.map((p) => [p.email, p]));

  const tryAssign = (p: Approver, seen: Set<number>): boolean => {
    for (let s = 0; s < seats.length; s++) {
      if (seen.has(s) || !eligible(p, seats[s]!)) continue;
      seen.add(s);
      const holder = seatHolder[s];
      if (holder === null || tryAssign(byEmail.get(holder!)!, seen)) {
        seatHolder[s] = p.email;
        return true;
      }
    }
    return false;
  };
  for (const p of people) tryAssign(p, new Set());

  const assignment = new Map<string, number | null>(approvers.map((a) => [a.email, null]));
  seatHolder.forEach((holder, s) => {
    if (holder !== null) assignment.set(holder, seats[s]!);
  });
  const statuses = rules.map((r, i) => {
    const counted = seatHolder.filter((h, s) => h !== null && seats[s] === i) as string[];
    return { index: i, approvers: r.approvers, count: r.count, counted, met: counted.length >= r.count };
  });
  return { satisfied: statuses.every((s) => s.met), rules: statuses, assignment };
}

export function describeRule(rule: ApprovalRule, index: number): string {
  return `rule ${index + 1} (${rule.count} of ${rule.approvers.join(', ')})`;
}

/** Can `approver` cast an approval that could count for any rule of this profile? */
export function isEligibleApprover(profile: Profile, approver: Approver): boolean {
  return profile.approvalRules.some((r) => matchesAny(r.approvers, approver));
}

export interface RequestInputForPolicy {
  durationSeconds: number;
  reason: string | null;
  ticket: string | null;
  incident: string | null;
  breakGlass: boolean;
}

export type Outcome = 'auto_approve' | 'needs_approval' | 'break_glass' | 'denied';

export interface Decision {
  outcome: Outcome;
  reasons: string[];
}

/**
 * Whether a request may be made at all, and how it will be decided. On-call status is
 * passed in (already looked up through the OnCallSource port) so this stays pure.
 */
export function decideRequest(
  profile: Profile,
  user: Approver,
  input: RequestInputForPolicy,
  onCall: { onCall: boolean; detail: string } | null,
): Decision {
  const denied: string[] = [];
  if (!matchesAny(profile.requesters, user)) {
    denied.push(`${user.email} is not among the requesters of ${profile.name} (${profile.requesters.join(', ')})`);
  }
  if (input.durationSeconds > profile.maxSeconds) {
    denied.push(`${formatDuration(input.durationSeconds)} is longer than ${profile.name}'s maximum of ${formatDuration(profile.maxSeconds)}`);
  }
  for (const req of profile.requires) {
    const value = req === 'reason' ? input.reason : req === 'ticket' ? input.ticket : input.incident;
    if (!value) denied.push(`${profile.name} requires ${req === 'incident' ? 'an incident' : `a ${req}`} (--${req})`);
  }
  if (input.breakGlass) {
    if (!profile.breakGlass.allowed) denied.push(`${profile.name} does not allow break-glass`);
    if (!input.reason) denied.push('break-glass requires a reason (--reason)');
  }
  if (denied.length > 0) return { outcome: 'denied', reasons: denied };

  if (input.breakGlass) {
    return { outcome: 'break_glass', reasons: [`break-glass by ${user.email}: approval skipped, review due within ${formatDuration(profile.breakGlass.reviewWithinSeconds)}`] };
  }
  if (profile.approvalRules.length === 0) {
    return { outcome: 'auto_approve', reasons: [`${profile.name} requires no approval`] };
  }
  if (profile.autoApproveOnCall && onCall?.onCall) {
    return { outcome: 'auto_approve', reasons: [`auto-approved: ${onCall.detail}`] };
  }
  const reasons = profile.approvalRules.map((r, i) => `needs ${describeRule(r, i)}`);
  if (profile.autoApproveOnCall && onCall) reasons.unshift(`not auto-approved: ${onCall.detail}`);
  return { outcome: 'needs_approval', reasons };
}

/** Approvers who could satisfy each rule, for explain and for notifications. */
export function eligibleApprovers(profile: Profile, directory: Directory, requester: string): string[][] {
  return profile.approvalRules.map((r) => {
    const set = new Set<string>();
    for (const spec of r.approvers) for (const m of directory.members(spec)) if (m.toLowerCase() !== requester.toLowerCase()) set.add(m);
    return [...set].sort();
  });
}
