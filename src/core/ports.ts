import type { AccessRequest, Approval, AuditEvent, Grant, ApiToken, PreApproval, RequestState, GrantState } from './model.ts';

/**
 * Ports: what core needs from the outside, as interfaces. Storage, connectors and
 * integrations implement them; core never imports those folders.
 */

/** Connector bookkeeping persisted with a grant. Never holds a secret. */
export type ConnectorState = Record<string, unknown>;

export interface CredentialsInput {
  /** OpenSSH public key line, for certificate connectors. */
  publicKey?: string;
}

export interface IssuedCredentials {
  kind: 'ssh_certificate' | 'database' | 'webhook';
  /**
   * Shown to the grantee once and never stored: for SSH `{certificate}`; for databases
   * `{host, port, database, user, password, uri}`; for webhooks whatever the target sent.
   */
  secret: Record<string, string | number>;
  /** When these credentials stop working at the target (ISO). */
  expires_at: string;
  /** What the audit event may record: serial, key ID, account, fingerprint. No secret. */
  audit: Record<string, unknown>;
  /** Updated connector state for the grant (e.g. issued certificate serials). */
  state: ConnectorState;
}

/** What core hands a connector for one grant (see connectors/connector.ts for contracts). */
export interface ConnectorGrantContext {
  grantId: string;
  /** The grantee's email, exactly as the identity provider spells it (hostile input). */
  grantee: string;
  profile: string;
  /** The profile's `access` block, already parsed by the connector module's `accessSchema`. */
  access: unknown;
  /** The grant's deadline; the target-side guard (VALID UNTIL, valid-before) uses it. */
  endsAt: Date;
  /** What earlier calls returned for this grant ({} on the first call). */
  state: ConnectorState;
}

/** The part of a connector core drives. */
export interface ConnectorPort {
  readonly name: string;
  readonly type: string;
  grant(ctx: ConnectorGrantContext): Promise<ConnectorState>;
  issueCredentials(ctx: ConnectorGrantContext, input: CredentialsInput): Promise<IssuedCredentials>;
  extend(ctx: ConnectorGrantContext): Promise<{ state: ConnectorState; credentials?: IssuedCredentials }>;
  revoke(ctx: ConnectorGrantContext, info: { early: boolean }): Promise<ConnectorState>;
  listManagedAccounts?(): Promise<Array<{ account: string; grantId: string | null }>>;
  removeAccount?(account: string): Promise<void>;
  revocationList?(states: ConnectorState[]): Buffer;
  caPublicKey?(): string;
}


export interface RequestFilter {
  states?: RequestState[];
  requester?: string;
  profiles?: string[];
  ids?: string[];
  limit?: number;
}

export interface GrantFilter {
  ids?: string[];
  states?: GrantState[];
  grantee?: string;
  profile?: string;
  connector?: string;
  incident?: string;
  ticket?: string;
  /** Break-glass grants not yet reviewed. */
  unreviewedBreakGlass?: boolean;
  /** Only grants whose ends_at is after this time. */
  endsAfter?: string;
  /** Only grants whose ends_at is at or before this time. */
  endsBy?: string;
  /** Only grants whose next revocation attempt is due by this time. */
  nextAttemptBy?: string;
  limit?: number;
}

export interface AuditFilter {
  since?: string;
  until?: string;
  actor?: string;
  action?: string;
  incident?: string;
  requestId?: string;
  grantId?: string;
  /** Events where this user is the actor or the subject. */
  involving?: string;
  afterSeq?: number;
  limit?: number;
  /** With a limit: the most recent events (still returned oldest first). */
  newest?: boolean;
}

/** Reads that need no transaction. */
export interface StoreReader {
  getRequest(id: string): Promise<AccessRequest | null>;
  listRequests(filter: RequestFilter): Promise<AccessRequest[]>;
  getGrant(id: string): Promise<Grant | null>;
  listGrants(filter: GrantFilter): Promise<Grant[]>;
  /** Earliest ends_at of active grants, expires_at of pending requests, next_attempt_at of revoking grants. */
  nextDeadline(): Promise<string | null>;
  auditEvents(filter: AuditFilter): Promise<AuditEvent[]>;
  auditHeadRow(): Promise<{ seq: number; hash: string }>;
  tokenByHash(hash: string): Promise<(ApiToken & { token_hash: string }) | null>;
  /** Token records without their hashes. */
  listTokens(f: { user?: string }): Promise<ApiToken[]>;
  countGrantsByState(): Promise<Record<string, number>>;
  listPreApprovals(f: { user?: string; profile?: string; activeAt?: string; includeRevoked?: boolean }): Promise<PreApproval[]>;
  getPreApproval(id: string): Promise<PreApproval | null>;
}

/**
 * One serialized write transaction. The store takes the audit-chain lock as the first
 * statement, so writers are serialized on every backend and the chain never forks.
 */
export interface StoreTx extends StoreReader {
  insertRequest(r: AccessRequest): Promise<void>;
  updateRequest(id: string, patch: Partial<Omit<AccessRequest, 'id' | 'approvals'>>): Promise<void>;
  insertApproval(requestId: string, a: Approval): Promise<void>;
  insertGrant(g: Grant): Promise<void>;
  updateGrant(id: string, patch: Partial<Omit<Grant, 'id'>>): Promise<void>;
  insertAuditEvent(e: AuditEvent): Promise<void>;
  /** Several events in few statements (batch expiry); same guarantees as one by one. */
  insertAuditEvents(events: AuditEvent[]): Promise<void>;
  setAuditHead(seq: number, hash: string): Promise<void>;
  insertToken(t: ApiToken & { token_hash: string }): Promise<void>;
  insertPreApproval(p: PreApproval): Promise<void>;
  revokePreApproval(id: string, at: string, by: string): Promise<void>;
  revokeToken(id: string, at: string): Promise<void>;
  /** Leader lease: true when `holder` holds `name` until `until` after the call. */
  acquireLease(name: string, holder: string, now: string, until: string): Promise<boolean>;
}

export interface Store {
  readonly kind: 'sqlite' | 'postgres';
  read: StoreReader;
  transaction<T>(fn: (tx: StoreTx) => Promise<T>): Promise<T>;
  /** Cursor for at-least-once delivery to audit sinks. */
  getCursor(name: string): Promise<number>;
  setCursor(name: string, seq: number): Promise<void>;
  touchToken(id: string, at: string): Promise<void>;
  close(): Promise<void>;
}

/** The answer of an on-call source, with the facts it was based on (kept in the audit). */
export interface OnCallCheck {
  onCall: boolean;
  /** Human sentence: "alice@example.com is on call for primary (level 1, weekly rotation) until …". */
  detail: string;
  /** When the user's current shift ends (for `end_on: shift_end`); null when not on call. */
  shiftEndsAt: Date | null;
}

/** Who is on call now, for auto-approval (built-in rotations, PagerDuty…). */
export interface OnCallSource {
  /**
   * Is `user` on call at `at` for `schedule` at one of `levels` (1 = first escalation
   * level)? Throws KeyshiftError NOT_FOUND for an unknown schedule; never throws for
   * "not on call".
   */
  check(user: string, schedule: string, levels: number[], at: Date): Promise<OnCallCheck>;
}

/**
 * Notifications (Slack, email…) are delivered from the committed audit log by a cursor,
 * at least once, retried until they succeed; a failure never undoes a state change.
 * `recipients` are the users who should act (approvers of a pending request…).
 */
export interface Notifier {
  readonly name: string;
  notify(event: AuditEvent, recipients: string[]): Promise<void>;
}

/** Validates ticket references (Jira…): exists, not closed. */
export interface TicketSource {
  check(ticket: string): Promise<{ exists: boolean; open: boolean; detail: string }>;
}

/** Validates incident references (PagerDuty…): exists, still open. */
export interface IncidentSource {
  check(incident: string): Promise<{ exists: boolean; open: boolean; detail: string }>;
}
