/** Kysely table types: what the columns hold on both SQLite and PostgreSQL. */
export interface RequestRow {
  id: string;
  profile: string;
  requester: string;
  duration_seconds: number;
  reason: string | null;
  ticket: string | null;
  incident: string | null;
  break_glass: number;
  state: string;
  created_at: string;
  expires_at: string;
  decided_at: string | null;
  decided_by: string | null;
  decision_comment: string | null;
  decision_reasons: string;
  grant_id: string | null;
  kind: string;
  extends_grant_id: string | null;
}

export interface ApprovalRow {
  request_id: string;
  approver: string;
  comment: string | null;
  rule: number | null;
  automatic: number;
  created_at: string;
  decision: string;
}

export interface GrantRow {
  id: string;
  request_id: string;
  profile: string;
  connector: string;
  grantee: string;
  state: string;
  ending: string | null;
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
  break_glass: number;
  review_due_at: string | null;
  reviewed_at: string | null;
  reviewed_by: string | null;
  review_comment: string | null;
  revoke_attempts: number;
  next_attempt_at: string | null;
  last_error: string | null;
  connector_state: string;
}

export interface AuditRow {
  seq: number;
  id: string;
  time: string;
  action: string;
  actor: string;
  subject: string | null;
  profile: string | null;
  connector: string | null;
  request_id: string | null;
  grant_id: string | null;
  incident: string | null;
  ticket: string | null;
  reason: string | null;
  details: string;
  prev_hash: string;
  hash: string;
}

export interface TokenRow {
  id: string;
  user_email: string;
  token_hash: string;
  label: string | null;
  created_at: string;
  created_by: string;
  expires_at: string | null;
  revoked_at: string | null;
  last_used_at: string | null;
}

export interface PreApprovalRow {
  id: string;
  profile: string;
  user_email: string;
  starts_at: string;
  ends_at: string;
  created_by: string;
  created_at: string;
  reason: string | null;
  revoked_at: string | null;
  revoked_by: string | null;
}

export interface Database {
  preapprovals: PreApprovalRow;
  requests: RequestRow;
  approvals: ApprovalRow;
  grants: GrantRow;
  audit_events: AuditRow;
  audit_head: { id: number; seq: number; hash: string };
  api_tokens: TokenRow;
  leases: { name: string; holder: string; expires_at: string };
  cursors: { name: string; seq: number };
}
