/**
 * The one Store over SQLite (embedded default) and PostgreSQL (teams, several replicas),
 * through Kysely. Dialect differences stay in this folder: booleans are 0/1, JSON is text,
 * counts are normalised with Number(), and time is ISO-8601 UTC text everywhere.
 */
import { Kysely, Migrator, PostgresDialect, SqliteDialect, sql } from 'kysely';
import type { Migration, MigrationProvider, Transaction } from 'kysely';
import SqliteDatabase from 'better-sqlite3';
import pg from 'pg';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { AccessRequest, Approval, AuditAction, AuditEvent, Grant, GrantEnding, GrantState, RequestState, ApiToken, PreApproval } from '../core/model.ts';
import type { AuditFilter, GrantFilter, RequestFilter, Store, StoreReader, StoreTx } from '../core/ports.ts';
import { KeyshiftError, scrubSecrets } from '../core/errors.ts';
import type { Database, GrantRow, RequestRow, AuditRow, ApprovalRow, TokenRow, PreApprovalRow } from './schema.ts';
import * as m0001 from './migrations/0001-initial.ts';
import * as m0002 from './migrations/0002-policy.ts';

const MIGRATIONS: Record<string, Migration> = { '0001-initial': m0001, '0002-policy': m0002 };

const staticMigrations: MigrationProvider = { getMigrations: async () => MIGRATIONS };

export interface OpenStoreOptions {
  /** `sqlite:path/to.db`, `sqlite::memory:`, or `postgres://…` */
  url: string;
  /** Relative SQLite paths resolve against this directory (the config file's). */
  baseDir?: string;
}

export async function openStore(opts: OpenStoreOptions): Promise<Store> {
  const { db, kind } = connect(opts);
  try {
    const { error, results } = await new Migrator({ db, provider: staticMigrations }).migrateToLatest();
    if (error) {
      const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
      throw new KeyshiftError('INTERNAL', `storage migration ${failed} failed: ${scrubSecrets(String((error as Error).message ?? error))}`);
    }
  } catch (e) {
    await db.destroy();
    if (e instanceof KeyshiftError) throw e;
    throw storageUnavailable(opts.url, e);
  }
  return new SqlStore(db, kind);
}

function storageUnavailable(url: string, e: unknown): KeyshiftError {
  const where = scrubSecrets(url);
  const hint = url.startsWith('postgres')
    ? ' (is PostgreSQL running? start it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start)'
    : '';
  return new KeyshiftError('INTERNAL', `cannot open storage ${where}: ${scrubSecrets(String((e as Error)?.message ?? e))}${hint}`, { retryable: true });
}

function connect(opts: OpenStoreOptions): { db: Kysely<Database>; kind: 'sqlite' | 'postgres' } {
  const url = opts.url;
  if (url.startsWith('sqlite:')) {
    const file = url.slice('sqlite:'.length);
    const path = file === ':memory:' ? ':memory:' : resolve(opts.baseDir ?? process.cwd(), file);
    if (path !== ':memory:') {
      mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
      // Token hashes and the audit log live here: owner-only from the first byte.
      if (!existsSync(path)) closeSync(openSync(path, 'a', 0o600));
      chmodSync(path, 0o600);
    }
    const database = new SqliteDatabase(path);
    database.pragma('journal_mode = WAL');
    database.pragma('busy_timeout = 5000');
    database.pragma('foreign_keys = ON');
    database.pragma('synchronous = NORMAL');
    cacheStatements(database);
    return { db: new Kysely<Database>({ dialect: new SqliteDialect({ database }) }), kind: 'sqlite' };
  }
  if (url.startsWith('postgres://') || url.startsWith('postgresql://')) {
    const pool = new pg.Pool({ connectionString: url, max: 10, connectionTimeoutMillis: 5000 });
    // An idle client losing its server must not crash the process; the next query reports it.
    pool.on('error', () => undefined);
    return { db: new Kysely<Database>({ dialect: new PostgresDialect({ pool }) }), kind: 'postgres' };
  }
  throw new KeyshiftError('CONFIG_INVALID', `storage.url ${JSON.stringify(scrubSecrets(url))} must start with sqlite: or postgres://`);
}

/**
 * Kysely prepares every query again; the same few hundred SQL strings recur, so keep
 * their compiled statements (better-sqlite3 runs them synchronously, so reuse is safe,
 * and SQLite re-prepares a statement by itself after a schema change).
 */
function cacheStatements(database: SqliteDatabase.Database, max = 500): void {
  const prepare = database.prepare.bind(database);
  const cache = new Map<string, SqliteDatabase.Statement>();
  database.prepare = ((source: string) => {
    let stmt = cache.get(source);
    if (!stmt) {
      stmt = prepare(source);
      if (cache.size >= max) cache.delete(cache.keys().next().value!);
      cache.set(source, stmt);
    }
    return stmt;
  }) as typeof database.prepare;
}

const bool = (n: number) => n === 1;
const json = <T>(s: string, fallback: T): T => {
  try {
    return JSON.parse(s) as T;
  } catch {
    return fallback;
  }
};

function toRequest(r: RequestRow, approvals: ApprovalRow[]): AccessRequest {
  return {
    ...r,
    state: r.state as RequestState,
    kind: r.kind === 'extension' ? 'extension' : 'grant',
    break_glass: bool(r.break_glass),
    decision_reasons: json<string[]>(r.decision_reasons, []),
    approvals: approvals
      .filter((a) => a.request_id === r.id)
      .sort((a, b) => (a.created_at < b.created_at ? -1 : 1))
      .map((a) => ({ approver: a.approver, decision: a.decision === 'deny' ? 'deny' : 'approve', comment: a.comment, rule: a.rule, automatic: bool(a.automatic), created_at: a.created_at })),
  };
}

function toGrant(g: GrantRow): Grant {
  return {
    ...g,
    state: g.state as GrantState,
    ending: g.ending as GrantEnding | null,
    break_glass: bool(g.break_glass),
    connector_state: json<Record<string, unknown>>(g.connector_state, {}),
  };
}

function toAudit(a: AuditRow): AuditEvent {
  return { ...a, seq: Number(a.seq), action: a.action as AuditAction, details: json<Record<string, unknown>>(a.details, {}) };
}

function toPreApproval(p: PreApprovalRow): PreApproval {
  const { user_email, ...rest } = p;
  return { ...rest, user: user_email };
}

function toToken(t: TokenRow): ApiToken & { token_hash: string } {
  return { id: t.id, user: t.user_email, token_hash: t.token_hash, label: t.label, created_at: t.created_at, created_by: t.created_by, expires_at: t.expires_at, revoked_at: t.revoked_at, last_used_at: t.last_used_at };
}

function requestPatch(p: Partial<AccessRequest>): Partial<RequestRow> {
  const { approvals: _a, break_glass, decision_reasons, ...rest } = p;
  const out: Partial<RequestRow> = { ...rest } as Partial<RequestRow>;
  if (break_glass !== undefined) out.break_glass = break_glass ? 1 : 0;
  if (decision_reasons !== undefined) out.decision_reasons = JSON.stringify(decision_reasons);
  return out;
}

function grantPatch(p: Partial<Grant>): Partial<GrantRow> {
  const { break_glass, connector_state, ...rest } = p;
  const out: Partial<GrantRow> = { ...rest } as Partial<GrantRow>;
  if (break_glass !== undefined) out.break_glass = break_glass ? 1 : 0;
  if (connector_state !== undefined) out.connector_state = JSON.stringify(connector_state);
  return out;
}

type Db = Kysely<Database> | Transaction<Database>;

class SqlReader implements StoreReader {
  constructor(protected readonly db: Db) {}

  async getRequest(id: string): Promise<AccessRequest | null> {
    const row = await this.db.selectFrom('requests').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) return null;
    const approvals = await this.db.selectFrom('approvals').selectAll().where('request_id', '=', id).execute();
    return toRequest(row, approvals);
  }

  async listRequests(f: RequestFilter): Promise<AccessRequest[]> {
    let q = this.db.selectFrom('requests').selectAll();
    if (f.states?.length) q = q.where('state', 'in', f.states);
    if (f.requester) q = q.where('requester', '=', f.requester);
    if (f.profiles) q = f.profiles.length ? q.where('profile', 'in', f.profiles) : q.where(sql<boolean>`1 = 0`);
    if (f.ids) q = f.ids.length ? q.where('id', 'in', f.ids) : q.where(sql<boolean>`1 = 0`);
    const rows = await q.orderBy('id', 'desc').limit(f.limit ?? 500).execute();
    if (rows.length === 0) return [];
    const approvals = await this.db.selectFrom('approvals').selectAll().where('request_id', 'in', rows.map((r) => r.id)).execute();
    return rows.map((r) => toRequest(r, approvals));
  }

  async getGrant(id: string): Promise<Grant | null> {
    const row = await this.db.selectFrom('grants').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? toGrant(row) : null;
  }

  async listGrants(f: GrantFilter): Promise<Grant[]> {
    let q = this.db.selectFrom('grants').selectAll();
    if (f.ids) q = f.ids.length ? q.where('id', 'in', f.ids) : q.where(sql<boolean>`1 = 0`);
    if (f.states?.length) q = q.where('state', 'in', f.states);
    if (f.grantee) q = q.where('grantee', '=', f.grantee);
    if (f.profile) q = q.where('profile', '=', f.profile);
    if (f.connector) q = q.where('connector', '=', f.connector);
    if (f.incident) q = q.where('incident', '=', f.incident);
    if (f.ticket) q = q.where('ticket', '=', f.ticket);
    if (f.unreviewedBreakGlass) q = q.where('break_glass', '=', 1).where('reviewed_at', 'is', null);
    if (f.endsAfter) q = q.where('ends_at', '>', f.endsAfter);
    if (f.endsBy) q = q.where('ends_at', '<=', f.endsBy);
    if (f.nextAttemptBy) q = q.where('next_attempt_at', '<=', f.nextAttemptBy);
    const rows = await q.orderBy('id', 'desc').limit(f.limit ?? 500).execute();
    return rows.map(toGrant);
  }

  async nextDeadline(): Promise<string | null> {
    const [a, r, v] = await Promise.all([
      this.db.selectFrom('grants').select((eb) => eb.fn.min('ends_at').as('t')).where('state', '=', 'active').executeTakeFirst(),
      this.db.selectFrom('requests').select((eb) => eb.fn.min('expires_at').as('t')).where('state', '=', 'pending').executeTakeFirst(),
      this.db.selectFrom('grants').select((eb) => eb.fn.min('next_attempt_at').as('t')).where('state', '=', 'revoking').executeTakeFirst(),
    ]);
    const times = [a?.t, r?.t, v?.t].filter((t): t is string => typeof t === 'string');
    return times.length ? times.sort()[0]! : null;
  }

  async auditEvents(f: AuditFilter): Promise<AuditEvent[]> {
    let q = this.db.selectFrom('audit_events').selectAll();
    if (f.since) q = q.where('time', '>=', f.since);
    if (f.until) q = q.where('time', '<', f.until);
    if (f.actor) q = q.where('actor', '=', f.actor);
    if (f.action) q = q.where('action', '=', f.action);
    if (f.incident) q = q.where('incident', '=', f.incident);
    if (f.requestId) q = q.where('request_id', '=', f.requestId);
    if (f.grantId) q = q.where('grant_id', '=', f.grantId);
    if (f.involving) {
      const who = f.involving;
      q = q.where((eb) => eb.or([eb('actor', '=', who), eb('subject', '=', who)]));
    }
    if (f.afterSeq !== undefined) q = q.where('seq', '>', f.afterSeq);
    if (f.newest) {
      const rows = await q.orderBy('seq', 'desc').limit(f.limit ?? 1000).execute();
      return rows.reverse().map(toAudit);
    }
    const rows = await q.orderBy('seq', 'asc').limit(f.limit ?? 1000).execute();
    return rows.map(toAudit);
  }

  async auditHeadRow(): Promise<{ seq: number; hash: string }> {
    const row = await this.db.selectFrom('audit_head').select(['seq', 'hash']).where('id', '=', 1).executeTakeFirstOrThrow();
    return { seq: Number(row.seq), hash: row.hash };
  }

  async tokenByHash(hash: string): Promise<(ApiToken & { token_hash: string }) | null> {
    const row = await this.db.selectFrom('api_tokens').selectAll().where('token_hash', '=', hash).executeTakeFirst();
    return row ? toToken(row) : null;
  }

  async listPreApprovals(f: { user?: string; profile?: string; activeAt?: string; includeRevoked?: boolean }): Promise<PreApproval[]> {
    let q = this.db.selectFrom('preapprovals').selectAll();
    if (f.user) q = q.where('user_email', '=', f.user);
    if (f.profile) q = q.where('profile', '=', f.profile);
    if (f.activeAt) q = q.where('starts_at', '<=', f.activeAt).where('ends_at', '>', f.activeAt);
    if (!f.includeRevoked) q = q.where('revoked_at', 'is', null);
    return (await q.orderBy('id', 'desc').limit(500).execute()).map(toPreApproval);
  }

  async getPreApproval(id: string): Promise<PreApproval | null> {
    const row = await this.db.selectFrom('preapprovals').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? toPreApproval(row) : null;
  }

  async listTokens(f: { user?: string }): Promise<ApiToken[]> {
    let q = this.db.selectFrom('api_tokens').selectAll();
    if (f.user) q = q.where('user_email', '=', f.user);
    const rows = await q.orderBy('id', 'desc').limit(1000).execute();
    return rows.map((r) => {
      const { token_hash: _hash, ...t } = toToken(r);
      return t;
    });
  }

  async countGrantsByState(): Promise<Record<string, number>> {
    const rows = await this.db.selectFrom('grants').select(['state', (eb) => eb.fn.countAll().as('n')]).groupBy('state').execute();
    return Object.fromEntries(rows.map((r) => [r.state, Number(r.n)]));
  }
}

class SqlTx extends SqlReader implements StoreTx {
  constructor(private readonly trx: Transaction<Database>) {
    super(trx);
  }

  async insertRequest(r: AccessRequest): Promise<void> {
    const { approvals, ...row } = r;
    await this.trx.insertInto('requests').values({ ...row, break_glass: r.break_glass ? 1 : 0, decision_reasons: JSON.stringify(r.decision_reasons) }).execute();
    for (const a of approvals) await this.insertApproval(r.id, a);
  }

  async updateRequest(id: string, patch: Partial<AccessRequest>): Promise<void> {
    await this.trx.updateTable('requests').set(requestPatch(patch)).where('id', '=', id).execute();
  }

  async insertApproval(requestId: string, a: Approval): Promise<void> {
    await this.trx.insertInto('approvals').values({ request_id: requestId, approver: a.approver, decision: a.decision, comment: a.comment, rule: a.rule, automatic: a.automatic ? 1 : 0, created_at: a.created_at }).execute();
  }

  async insertGrant(g: Grant): Promise<void> {
    await this.trx.insertInto('grants').values({ ...g, break_glass: g.break_glass ? 1 : 0, connector_state: JSON.stringify(g.connector_state) }).execute();
  }

  async updateGrant(id: string, patch: Partial<Grant>): Promise<void> {
    await this.trx.updateTable('grants').set(grantPatch(patch)).where('id', '=', id).execute();
  }

  async insertAuditEvent(e: AuditEvent): Promise<void> {
    await this.trx.insertInto('audit_events').values({ ...e, details: JSON.stringify(e.details) }).execute();
  }

  async insertAuditEvents(events: AuditEvent[]): Promise<void> {
    // 100 rows × 16 columns stays under SQLite's and PostgreSQL's bind-parameter limits.
    for (let i = 0; i < events.length; i += 100) {
      await this.trx.insertInto('audit_events').values(events.slice(i, i + 100).map((e) => ({ ...e, details: JSON.stringify(e.details) }))).execute();
    }
  }

  async setAuditHead(seq: number, hash: string): Promise<void> {
    await this.trx.updateTable('audit_head').set({ seq, hash }).where('id', '=', 1).execute();
  }

  async insertToken(t: ApiToken & { token_hash: string }): Promise<void> {
    await this.trx.insertInto('api_tokens').values({ id: t.id, user_email: t.user, token_hash: t.token_hash, label: t.label, created_at: t.created_at, created_by: t.created_by, expires_at: t.expires_at, revoked_at: t.revoked_at, last_used_at: t.last_used_at }).execute();
  }

  async insertPreApproval(p: PreApproval): Promise<void> {
    const { user, ...rest } = p;
    await this.trx.insertInto('preapprovals').values({ ...rest, user_email: user }).execute();
  }

  async revokePreApproval(id: string, at: string, by: string): Promise<void> {
    await this.trx.updateTable('preapprovals').set({ revoked_at: at, revoked_by: by }).where('id', '=', id).where('revoked_at', 'is', null).execute();
  }

  async revokeToken(id: string, at: string): Promise<void> {
    await this.trx.updateTable('api_tokens').set({ revoked_at: at }).where('id', '=', id).where('revoked_at', 'is', null).execute();
  }

  async acquireLease(name: string, holder: string, now: string, until: string): Promise<boolean> {
    const current = await this.trx.selectFrom('leases').selectAll().where('name', '=', name).executeTakeFirst();
    if (!current) {
      await this.trx.insertInto('leases').values({ name, holder, expires_at: until }).execute();
      return true;
    }
    if (current.holder !== holder && current.expires_at > now) return false;
    await this.trx.updateTable('leases').set({ holder, expires_at: until }).where('name', '=', name).execute();
    return true;
  }
}

class SqlStore implements Store {
  readonly read: StoreReader;
  constructor(
    private readonly db: Kysely<Database>,
    readonly kind: 'sqlite' | 'postgres',
  ) {
    this.read = new SqlReader(db);
  }

  async transaction<T>(fn: (tx: StoreTx) => Promise<T>): Promise<T> {
    return this.db.transaction().execute(async (trx) => {
      // The serialization point (see migration 0001): a row lock on PostgreSQL, the write
      // lock on SQLite, taken before anything is read so decisions see committed state.
      await trx.updateTable('audit_head').set({ seq: sql`seq` }).where('id', '=', 1).execute();
      return fn(new SqlTx(trx));
    });
  }

  async getCursor(name: string): Promise<number> {
    const row = await this.db.selectFrom('cursors').select('seq').where('name', '=', name).executeTakeFirst();
    return row ? Number(row.seq) : 0;
  }

  async setCursor(name: string, seq: number): Promise<void> {
    const updated = await this.db.updateTable('cursors').set({ seq }).where('name', '=', name).executeTakeFirst();
    if (Number(updated.numUpdatedRows) === 0) await this.db.insertInto('cursors').values({ name, seq }).execute();
  }

  async touchToken(id: string, at: string): Promise<void> {
    await this.db.updateTable('api_tokens').set({ last_used_at: at }).where('id', '=', id).execute();
  }

  async close(): Promise<void> {
    await this.db.destroy();
  }
}
