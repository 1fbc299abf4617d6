/**
 * Response shapes of the HTTP API that are not domain records (those are imported from
 * core/model.ts, which is the wire format too).
 */
import type { AccessRequest, AuditEvent, Grant } from '../core/model.ts';

export type { AccessRequest, AuditEvent, Grant };

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

export interface Explanation {
  profile: string;
  user: string;
  duration_seconds: number;
  allowed: boolean;
  outcome: 'auto_approve' | 'needs_approval' | 'denied';
  reasons: string[];
  rules: Array<{ index: number; approvers: string[]; count: number; eligible: string[] }>;
  break_glass_allowed: boolean;
}

export interface RequestResult {
  request: AccessRequest;
  grant: Grant | null;
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

export interface ListOf<T> {
  items: T[];
}
