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
export function tallyApprovals(rules: ApprovalRule[], approvers: Approver[], requester: string, allowOverlap = false): ApprovalTally {
  if (allowOverlap) return tallyOverlapping(rules, approvers, requester);
  const seats: number[] = rules.flatMap((r, i) => Array.from({ length: r.count }, () => i));
  const seatHolder: (string | null)[] = seats.map(() => null);
  const people = distinct(approvers).filter((a) => a.email.toLowerCase() !== requester.toLowerCase());
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

/** With `allow_overlap`, each rule counts every eligible approver independently. */
function tallyOverlapping(rules: ApprovalRule[], approvers: Approver[], requester: string): ApprovalTally {
  const people = distinct(approvers).filter((a) => a.email.toLowerCase() !== requester.toLowerCase());
  const statuses = rules.map((r, i) => {
    const counted = people.filter((p) => matchesAny(r.approvers, p)).map((p) => p.email).slice(0, r.count);
    return { index: i, approvers: r.approvers, count: r.count, counted, met: counted.length >= r.count };
  });
  const assignment = new Map<string, number | null>(approvers.map((a) => [a.email, statuses.find((s) => s.counted.includes(a.email))?.index ?? null]));
  return { satisfied: statuses.every((s) => s.met), rules: statuses, assignment };
}

/** One entry per person (emails compare case-insensitively): nobody counts twice. */
function distinct(approvers: Approver[]): Approver[] {
  const seen = new Set<string>();
  return approvers.filter((a) => {
    const key = a.email.toLowerCase();
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
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
  /** Pre-approvals that approve this request, as approvals by their authors. */
  preApprovedBy: Approver[];
}

/** What was looked up through the ports before deciding (so this stays pure). */
export interface PolicyFacts {
  onCall: { onCall: boolean; detail: string; checkedAt?: string } | null;
  /** Active pre-approval windows for this user and profile. */
  preApprovals: Array<{ approver: Approver; until: string; id: string }>;
  /** Ticket / incident source answers; null when no source is configured. */
  ticket: { exists: boolean; open: boolean; detail: string } | null;
  incident: { exists: boolean; open: boolean; detail: string } | null;
}

export const NO_FACTS: PolicyFacts = { onCall: null, preApprovals: [], ticket: null, incident: null };

/** Format and requirement checks that need no source; every failure is named. */
export function checkRequirements(profile: Profile, input: RequestInputForPolicy): string[] {
  const problems: string[] = [];
  for (const req of profile.requires) {
    const value = req === 'reason' ? input.reason : req === 'ticket' ? input.ticket : input.incident;
    if (!value) problems.push(`${profile.name} requires ${req === 'incident' ? 'an incident' : `a ${req}`} (--${req})`);
  }
  if (input.reason) {
    if (input.reason.trim().length < profile.reason.minLength) {
      problems.push(`the reason must be at least ${profile.reason.minLength} characters (got ${input.reason.trim().length})`);
    }
    if (profile.reason.pattern && !new RegExp(profile.reason.pattern).test(input.reason)) {
      problems.push(`the reason must match ${profile.reason.pattern}`);
    }
  }
  if (input.ticket && profile.ticketPattern && !new RegExp(profile.ticketPattern).test(input.ticket)) {
    problems.push(`ticket ${JSON.stringify(input.ticket)} does not match ${profile.ticketPattern}`);
  }
  if (input.incident && profile.incidentPattern && !new RegExp(profile.incidentPattern).test(input.incident)) {
    problems.push(`incident ${JSON.stringify(input.incident)} does not match ${profile.incidentPattern}`);
  }
  return problems;
}

/**
 * Whether a request may be made at all, and how it will be decided. On-call status,
 * pre-approvals and ticket/incident state are passed in (looked up through the ports).
 */
export function decideRequest(profile: Profile, user: Approver, input: RequestInputForPolicy, facts: PolicyFacts = NO_FACTS): Decision {
  const denied: string[] = [];
  if (!matchesAny(profile.requesters, user)) {
    denied.push(`${user.email} is not among the requesters of ${profile.name} (${profile.requesters.join(', ')})`);
  }
  if (input.durationSeconds > profile.maxSeconds) {
    denied.push(`${formatDuration(input.durationSeconds)} is longer than ${profile.name}'s maximum of ${formatDuration(profile.maxSeconds)}`);
  }
  denied.push(...checkRequirements(profile, input));
  for (const [what, value, fact] of [['ticket', input.ticket, facts.ticket], ['incident', input.incident, facts.incident]] as const) {
    if (value && fact) {
      if (!fact.exists) denied.push(`${what} ${value} was not found (${fact.detail})`);
      else if (!fact.open) denied.push(`${what} ${value} is ${what === 'incident' ? 'resolved' : 'closed'} (${fact.detail})`);
    }
  }
  if (input.breakGlass) {
    if (!profile.breakGlass.allowed) denied.push(`${profile.name} does not allow break-glass`);
    if (!input.reason) denied.push('break-glass requires a reason (--reason)');
  }
  const none: Approver[] = [];
  if (denied.length > 0) return { outcome: 'denied', reasons: denied, preApprovedBy: none };

  if (input.breakGlass) {
    return { outcome: 'break_glass', reasons: [`break-glass by ${user.email}: approval skipped, review due within ${formatDuration(profile.breakGlass.reviewWithinSeconds)}`], preApprovedBy: none };
  }
  if (profile.approvalRules.length === 0) {
    return { outcome: 'auto_approve', reasons: [`${profile.name} requires no approval`], preApprovedBy: none };
  }
  if (profile.autoApproveOnCall && facts.onCall?.onCall) {
    const auto = profile.autoApproveOnCall;
    return {
      outcome: 'auto_approve',
      reasons: [`auto-approved: ${facts.onCall.detail.replace(/\.$/, '')} (schedule ${auto.schedule}, level${auto.levels.length > 1 ? 's' : ''} ${auto.levels.join(', ')}, ${auto.source} checked at ${facts.onCall.checkedAt ?? 'request time'})`],
      preApprovedBy: none,
    };
  }
  // One window per author counts (the one lasting longest), whatever overlaps exist.
  const byAuthor = new Map<string, PolicyFacts['preApprovals'][number]>();
  for (const p of facts.preApprovals) {
    const key = p.approver.email.toLowerCase();
    if (key === user.email.toLowerCase()) continue;
    const prev = byAuthor.get(key);
    if (!prev || p.until > prev.until) byAuthor.set(key, p);
  }
  const pre = [...byAuthor.values()];
  if (pre.length) {
    const tally = tallyApprovals(profile.approvalRules, pre.map((p) => p.approver), user.email, profile.allowOverlap);
    if (tally.satisfied) {
      return {
        outcome: 'auto_approve',
        reasons: pre.map((p) => `pre-approved by ${p.approver.email} until ${p.until} (${p.id})`),
        preApprovedBy: pre.map((p) => p.approver),
      };
    }
  }
  const reasons = profile.approvalRules.map((r, i) => `needs ${describeRule(r, i)}`);
  if (profile.autoApproveOnCall && facts.onCall) reasons.unshift(`not auto-approved: ${facts.onCall.detail}`);
  if (pre.length) reasons.push(`pre-approvals by ${pre.map((p) => p.approver.email).join(', ')} count as approvals but do not meet every rule`);
  return { outcome: 'needs_approval', reasons, preApprovedBy: pre.map((p) => p.approver) };
}

/** Approvers who could satisfy each rule, for explain and for notifications. */
export function eligibleApprovers(profile: Profile, directory: Directory, requester: string): string[][] {
  return profile.approvalRules.map((r) => {
    const set = new Set<string>();
    for (const spec of r.approvers) for (const m of directory.members(spec)) if (m.toLowerCase() !== requester.toLowerCase()) set.add(m);
    return [...set].sort();
  });
}
