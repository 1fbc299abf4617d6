/**
 * Response shapes of the HTTP API that are not domain records (those are imported from
 * core/model.ts, which is the wire format too).
 */
import type { AccessRequest, ApiToken, AuditEvent, Grant, PreApproval } from '../core/model.ts';

export type { AccessRequest, AuditEvent, Grant, PreApproval };

export interface Me {
  email: string;
  groups: string[];
  admin: boolean;
}

export interface ProfileInfo {
  name: string;
  description: string | null;
  connector: string;
  connector_type: string;
  duration: { default_seconds: number; max_seconds: number };
  requires: string[];
  approval: { rules: Array<{ approvers: string[]; count: number }>; auto_approve: boolean };
  break_glass: { allowed: boolean };
  extend: { max_times: number; max_total_seconds: number } | null;
  can_request: boolean;
}

export type PolicyOutcome = 'auto_approve' | 'needs_approval' | 'break_glass' | 'denied';

/** `GET /profiles/:name/explain`: what would happen if `user` requested the profile now. */
export interface Explanation {
  profile: string;
  user: string;
  duration_seconds: number;
  allowed: boolean;
  outcome: PolicyOutcome;
  reasons: string[];
  /** What a real request must carry (reason, ticket…); not checked by the question itself. */
  requirements: string[];
  rules: Array<{ index: number; approvers: string[]; count: number; eligible: string[]; satisfiable: boolean }>;
  /** null when the profile has no on-call auto-approval. */
  on_call: { on_call: boolean; detail: string; shift_ends_at: string | null } | null;
  pre_approvals: Array<{ id: string; by: string; until: string }>;
  held_grant: { id: string; ends_at: string | null; note: string } | null;
  break_glass_allowed: boolean;
}

/** `GET /policy/matrix` (admins): every profile × every directory user. */
export interface MatrixRow {
  profile: string;
  connector: string;
  max_seconds: number;
  requires: string[];
  on_call_auto_approval: { source: string; schedule: string; levels: number[] } | null;
  break_glass: boolean;
  users: Array<{ user: string; outcome: PolicyOutcome; approver: boolean }>;
}

/** A break-glass grant waiting for an approver's acknowledgement (`GET /reviews`). */
export type ReviewItem = Grant & { review_overdue: boolean };

export interface RequestResult {
  request: AccessRequest;
  grant: Grant | null;
}

/**
 * `POST /grants/:id/extend`: 200 with the extended grant when applied at once, 202 with
 * the pending extension request (and `grant: null`) when it needs approval.
 */
export interface ExtendResult {
  request: AccessRequest;
  grant: Grant | null;
  credentials: IssuedCredentials | null;
}

export type CredentialKind = 'ssh_certificate' | 'database' | 'webhook';

export interface IssuedCredentials {
  grant_id: string;
  kind: CredentialKind;
  expires_at: string;
  credentials: Record<string, string | number | string[]>;
}

export interface AuditVerification {
  ok: boolean;
  checked: number;
  head: string | null;
  first_broken: null | { seq: number; id: string; problem: string };
}

export interface CreatedToken {
  id: string;
  token: string;
  user: string;
  expires_at: string | null;
}

/** A token record as the API lists it (never the secret or its hash). */
export type TokenInfo = ApiToken;

export interface ListOf<T> {
  items: T[];
}
