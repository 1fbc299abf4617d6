/**
 * Domain records. These are also the JSON shapes of the HTTP API (snake_case on the
 * wire, same names here) so that CLI, web UI and integrations read one vocabulary.
 * Times are ISO-8601 UTC strings with milliseconds, on every storage backend.
 */

export const REQUEST_STATES = ['pending', 'approved', 'denied', 'cancelled', 'expired'] as const;
export type RequestState = (typeof REQUEST_STATES)[number];

export const GRANT_STATES = ['activating', 'active', 'revoking', 'expired', 'revoked', 'released', 'failed'] as const;
export type GrantState = (typeof GRANT_STATES)[number];
/** How a grant ends; `revoking` remembers which one it is working towards. */
export type GrantEnding = 'expired' | 'revoked' | 'released';

export interface Approval {
  approver: string;
  /** A recorded approval or denial (denials end the request once `denials_required` is reached). */
  decision: 'approve' | 'deny';
  comment: string | null;
  /** Index of the approval rule this approval counts for, null when it counts for none. */
  rule: number | null;
  automatic: boolean;
  created_at: string;
}

export interface AccessRequest {
  id: string;
  profile: string;
  requester: string;
  duration_seconds: number;
  reason: string | null;
  ticket: string | null;
  incident: string | null;
  break_glass: boolean;
  state: RequestState;
  created_at: string;
  /** When a pending request expires (request_ttl). */
  expires_at: string;
  decided_at: string | null;
  decided_by: string | null;
  decision_comment: string | null;
  /** Why it was approved or denied: rule names, on-call checks, who counted. */
  decision_reasons: string[];
  grant_id: string | null;
  /** `grant`: a new grant; `extension`: more time on `extends_grant_id` (same approval as the original). */
  kind: 'grant' | 'extension';
  extends_grant_id: string | null;
  approvals: Approval[];
}

export interface Grant {
  id: string;
  request_id: string;
  profile: string;
  connector: string;
  grantee: string;
  state: GrantState;
  /** What the grant is working towards while `revoking`. */
  ending: GrantEnding | null;
  duration_seconds: number;
  created_at: string;
  activated_at: string | null;
  ends_at: string | null;
  ended_at: string | null;
  end_reason: string | null;
  ended_by: string | null;
  extensions: number;
  incident: string | null;
  ticket: string | null;
  break_glass: boolean;
  review_due_at: string | null;
  reviewed_at: string | null;
  reviewed_by: string | null;
  review_comment: string | null;
  revoke_attempts: number;
  next_attempt_at: string | null;
  last_error: string | null;
  /** Connector bookkeeping (account name, certificate serials…). Never a secret. */
  connector_state: Record<string, unknown>;
}

export const AUDIT_ACTIONS = [
  'request.created',
  'request.approval_added', // one approval counted, more needed (addition to PRODUCT.md's list)
  'request.denial_added', // one denial recorded, more needed to end it (addition)
  'request.approved',
  'request.denied',
  'request.cancelled',
  'request.expired',
  'grant.activated',
  'grant.failed',
  'grant.credentials_issued',
  'grant.extended',
  'grant.expired',
  'grant.released',
  'grant.revoked',
  'grant.revoke_failed',
  'break_glass.activated',
  'break_glass.reviewed',
  'preapproval.created', // an approver pre-approved a user for a window (addition)
  'preapproval.revoked', // (addition)
  'auth.login',
  'auth.token_created',
  'auth.token_revoked', // (addition to PRODUCT.md's list)
  'config.loaded',
  'connector.orphan_removed', // an account Keyshift made, found with no live grant (addition to PRODUCT.md's list)
] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

/** What a service hands to the audit log; the log adds id, seq, time and hashes. */
export interface AuditInput {
  action: AuditAction;
  actor: string; // an email, or `system:<worker>`
  subject?: string | null; // whose access this is about
  profile?: string | null;
  connector?: string | null;
  request_id?: string | null;
  grant_id?: string | null;
  incident?: string | null;
  ticket?: string | null;
  reason?: string | null;
  details?: Record<string, unknown>;
}

export interface AuditEvent {
  seq: number;
  id: string;
  time: string;
  action: AuditAction;
  actor: string;
  subject: string | null;
  profile: string | null;
  connector: string | null;
  request_id: string | null;
  grant_id: string | null;
  incident: string | null;
  ticket: string | null;
  reason: string | null;
  details: Record<string, unknown>;
  prev_hash: string;
  hash: string;
}

export interface ApiToken {
  id: string;
  user: string;
  label: string | null;
  created_at: string;
  created_by: string;
  expires_at: string | null;
  revoked_at: string | null;
  last_used_at: string | null;
}

/** An approver's standing approval of one user for one profile during a window. */
export interface PreApproval {
  id: string;
  profile: string;
  user: string;
  starts_at: string;
  ends_at: string;
  created_by: string;
  created_at: string;
  reason: string | null;
  revoked_at: string | null;
  revoked_by: string | null;
}

/** The caller, as resolved by authentication. */
export interface Principal {
  email: string;
  groups: string[];
  admin: boolean;
}
