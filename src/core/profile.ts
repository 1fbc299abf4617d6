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
  approvalRules: ApprovalRule[];
  /** On-call auto-approval: names the schedule to ask the on-call source about. */
  autoApproveOnCall: { source: string; schedule: string } | null;
  requestTtlSeconds: number;
  extend: { maxTimes: number; maxTotalSeconds: number } | null;
  breakGlass: { allowed: boolean; reviewWithinSeconds: number };
  endOn: string[];
}

/** The identity directory: who exists and which groups they are in. */
export interface Directory {
  lookup(email: string): { email: string; groups: string[]; admin: boolean } | null;
  /** Every known user matching a `group:NAME` / email / `*` spec. */
  members(spec: string): string[];
}

export function matchesSpec(spec: string, user: { email: string; groups: string[] }): boolean {
  if (spec === '*') return true;
  if (spec.startsWith('group:')) return user.groups.includes(spec.slice('group:'.length));
  return spec.toLowerCase() === user.email.toLowerCase();
}

export function matchesAny(specs: string[], user: { email: string; groups: string[] }): boolean {
  return specs.some((s) => matchesSpec(s, user));
}
