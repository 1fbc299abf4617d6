/**
 * A profile as core sees it: parsed, durations in seconds, connector resolved. Config
 * builds these once at start-up; core never reads YAML.
 */
export interface ApprovalRule {
  /** `group:NAME` or an email. */
  approvers: string[];
  count: number;
}

export type Requirement = 'reason' | 'ticket' | 'incident';

export interface Profile {
  name: string;
  description: string;
  connector: string;
  connectorType: string;
  /** The connector's parsed `access` block. */
  access: unknown;
  defaultSeconds: number;
  maxSeconds: number;
  /** `group:NAME`, an email, or `*` for every known user. */
  requesters: string[];
  requires: Requirement[];
  /** Reason rules: minimum length, and a pattern it must match (e.g. an incident key). */
  reason: { minLength: number; pattern: string | null };
  /** Format of ticket / incident references (checked before any source is asked). */
  ticketPattern: string | null;
  incidentPattern: string | null;
  approvalRules: ApprovalRule[];
  /** When true, one person's approval counts for every rule they are eligible for. */
  allowOverlap: boolean;
  /** Denials needed to end a request (1: a single deny ends it). */
  denialsRequired: number;
  /** On-call auto-approval: which source, schedule and escalation levels. */
  autoApproveOnCall: { source: 'rotation' | 'pagerduty'; schedule: string; levels: number[] } | null;
  requestTtlSeconds: number;
  extend: {
    maxTimes: number;
    maxTotalSeconds: number;
    /** An extension may be asked for only once this share (0–100) of the grant has elapsed. */
    afterElapsedPercent: number;
    /** `same`: an extension needs the same approval as the original (unless auto-approved); `none`: the grantee extends alone. */
    approval: 'same' | 'none';
  } | null;
  breakGlass: { allowed: boolean; reviewWithinSeconds: number };
  endOn: Array<'incident_resolved' | 'ticket_closed' | 'shift_end'>;
}

/** The identity directory: who exists and which groups they are in. */
export interface Directory {
  lookup(email: string): { email: string; groups: string[]; admin: boolean } | null;
  /** Every known user matching a `group:NAME` / email / `*` spec. */
  members(spec: string): string[];
  /** Every known user (for the policy matrix). */
  all(): Array<{ email: string; groups: string[] }>;
}

export function matchesSpec(spec: string, user: { email: string; groups: string[] }): boolean {
  if (spec === '*') return true;
  if (spec.startsWith('group:')) return user.groups.includes(spec.slice('group:'.length));
  return spec.toLowerCase() === user.email.toLowerCase();
}

export function matchesAny(specs: string[], user: { email: string; groups: string[] }): boolean {
  return specs.some((s) => matchesSpec(s, user));
}
