import type { Clock } from '../core/clock.ts';
import type { ConnectorGrantContext, ConnectorState, CredentialsInput, IssuedCredentials } from '../core/ports.ts';

export type { ConnectorGrantContext, ConnectorState, CredentialsInput, IssuedCredentials } from '../core/ports.ts';

/**
 * The one interface every target system implements. Core calls it outside any database
 * transaction; every method may be called again after a crash, so every method is
 * idempotent. Errors are `KeyshiftError`s: `CONNECTOR_UNAVAILABLE` when the target could
 * not be reached, `CONNECTOR_FAILED` when it refused. A failed grant ends `failed` (the
 * requester asks again); a failed revoke is retried with backoff, without limit. Messages
 * are scrubbed: no URL password, no generated password, no private key ever appears.
 */
export interface Connector {
  readonly name: string;
  readonly type: ConnectorType;

  /**
   * Reachability and admin privileges, for `keyshift config check --connect`.
   * Problems are returned, not thrown.
   */
  check(input?: ConnectorCheckInput): Promise<ConnectorCheck>;

  /**
   * Provisions the grant at the target (a database role, nothing for SSH). Converges when
   * called twice for one grant. On failure nothing is left half-created. The returned
   * state is persisted by core and handed back on every later call.
   */
  grant(ctx: ConnectorGrantContext): Promise<ConnectorState>;

  /**
   * Issues fresh credentials to the grantee for an active grant: a new database password,
   * an SSH certificate for `input.publicKey`. Returned once; Keyshift stores only what
   * `audit` and `state` carry, never the secret.
   */
  issueCredentials(ctx: ConnectorGrantContext, input: CredentialsInput): Promise<IssuedCredentials>;

  /**
   * Moves the target-side deadline to `ctx.endsAt` (the new end). May re-issue
   * credentials (SSH re-signs the last public key), returned in `credentials`.
   */
  extend(ctx: ConnectorGrantContext): Promise<{ state: ConnectorState; credentials?: IssuedCredentials }>;

  /**
   * Removes the access at the target: new logins refused, live sessions ended where the
   * target allows it, the account dropped. Idempotent: revoking something that is already
   * gone (twice, or dropped by hand) succeeds. `early` is true when the grant ends before
   * its deadline (release, revoke), which is when target-side guards alone do not suffice.
   */
  revoke(ctx: ConnectorGrantContext, info: { early: boolean }): Promise<ConnectorState>;

  /**
   * Accounts at the target that this connector created (by its naming scheme), for the
   * orphan sweep: any whose grant is not live is removed by core through `removeAccount`.
   */
  listManagedAccounts?(): Promise<ManagedAccount[]>;
  removeAccount?(account: string): Promise<void>;

  /**
   * SSH only: the key revocation list (OpenSSH KRL, binary) for certificates of the given
   * grants, which core passes for grants that ended early while a certificate may be valid.
   */
  revocationList?(states: ConnectorState[]): Buffer;
  /** SSH only: the CA public key line hosts put in TrustedUserCAKeys. */
  caPublicKey?(): string;

  /** Releases pools and handles. Idempotent. */
  close(): Promise<void>;
}

export const CONNECTOR_TYPES = ['ssh', 'postgres', 'mysql', 'webhook'] as const;
export type ConnectorType = (typeof CONNECTOR_TYPES)[number];


/** What the profiles on this connector hand out, so check() can test those rights too. */
export interface ConnectorCheckInput {
  /** Parsed `access` blocks of every profile on this connector. */
  access?: unknown[];
}

export interface ConnectorCheck {
  ok: boolean;
  problems: string[];
  /** Free-form facts worth showing: server version, CA fingerprint… */
  info: Record<string, string>;
}

export interface ManagedAccount {
  account: string;
  /** The grant ID the account was made for, when the name or a comment carries it. */
  grantId: string | null;
}

export interface ConnectorDeps {
  clock: Clock;
  /** Directory relative paths in the config resolve against (the config file's). */
  baseDir: string;
  log: (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;
}

/**
 * What each connector folder exports. The registry is a `Record<ConnectorType,
 * ConnectorModule>`, so a type without a module fails to compile.
 */
export interface ConnectorModule<Config = unknown, Access = unknown> {
  /** zod-like parser for the connector block in keyshift.yaml (without `type`). */
  configSchema: { safeParse(v: unknown): SafeParse<Config> };
  /** zod-like parser for a profile's `access` block. */
  accessSchema: { safeParse(v: unknown): SafeParse<Access> };
  create(name: string, config: Config, deps: ConnectorDeps): Connector;
}

export type SafeParse<T> =
  | { success: true; data: T }
  | { success: false; error: { issues: Array<{ path: PropertyKey[]; message: string }> } };
