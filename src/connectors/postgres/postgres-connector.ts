/**
 * PostgreSQL connector: one temporary LOGIN role per grant, member of the profile's group
 * roles, with `VALID UNTIL` at the grant's end as the target-side guard. See
 * docs/connectors/postgres.md for the admin role setup and what happens at expiry.
 *
 * Every statement is built with escapeIdentifier / escapeLiteral (role DDL takes no bind
 * parameters). Works with a non-superuser admin on PG 15 (CREATEROLE) and PG 16+
 * (CREATEROLE + ADMIN OPTION on the handed-out roles).
 */
import pg from 'pg';
import type { Connector, ConnectorCheck, ConnectorDeps, ConnectorGrantContext, ConnectorModule, IssuedCredentials, ManagedAccount } from '../connector.ts';
import { KeyshiftError } from '../../core/errors.ts';
import { connectionFacts, PostgresAccessSchema, PostgresConfigSchema, type ConnectionFacts, type PostgresAccess, type PostgresConfig } from './postgres-config.ts';
import { decodeComment, encodeComment, roleName } from './role-naming.ts';
import { generatePassword, scramVerifier } from './scram.ts';
import { describe, isUnreachable, sqlState, toKeyshiftError } from './pg-errors.ts';
import { runCheck } from './postgres-check.ts';

const { escapeIdentifier: ident, escapeLiteral: literal } = pg;

/** How long revoke waits for each killed backend to exit (pg_terminate_backend timeout). */
const TERMINATE_WAIT_MS = 5000;

/** The connector plus `check` taking the group roles profiles hand out (PG 16+ ADMIN OPTION). */
export interface PostgresConnector extends Connector {
  check(options?: { roles?: string[]; access?: unknown[] }): Promise<ConnectorCheck>;
}

interface RoleRow {
  oid: number;
  comment: string | null;
}

function accessOf(ctx: ConnectorGrantContext): PostgresAccess {
  const parsed = PostgresAccessSchema.safeParse(ctx.access);
  if (!parsed.success) {
    throw new KeyshiftError('CONNECTOR_FAILED', `profile ${JSON.stringify(ctx.profile)}: access block is not a postgres access block: ${parsed.error.issues.map((i) => i.message).join('; ')}`);
  }
  return parsed.data;
}

export function createPostgresConnector(name: string, config: PostgresConfig, deps: ConnectorDeps): PostgresConnector {
  const facts: ConnectionFacts = connectionFacts(config);
  const secrets = [facts.adminPassword];
  const pool = new pg.Pool({
    connectionString: facts.adminUrl,
    max: 2,
    idleTimeoutMillis: 10_000,
    connectionTimeoutMillis: 10_000,
    statement_timeout: 30_000,
    application_name: `keyshift:${name}`,
  });
  // An idle admin connection dropped by the server must not crash the process.
  pool.on('error', (e) => deps.log('warn', 'postgres connector: idle admin connection lost', { connector: name, error: describe(e, secrets) }));
  let closed = false;

  const fail = (e: unknown, doing: string) => toKeyshiftError(e, name, doing, secrets);

  /** Runs `fn` on one admin connection; a connection broken mid-way is discarded. */
  async function withClient<T>(doing: string, fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await pool.connect();
    } catch (e) {
      throw fail(e, doing);
    }
    let broken = false;
    try {
      return await fn(client);
    } catch (e) {
      broken = isUnreachable(e);
      throw fail(e, doing);
    } finally {
      client.release(broken);
    }
  }

  /** BEGIN … COMMIT; any error rolls back, so nothing is left half-done. */
  async function inTransaction<T>(doing: string, fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    return withClient(doing, async (c) => {
      await c.query('BEGIN');
      try {
        const out = await fn(c);
        await c.query('COMMIT');
        return out;
      } catch (e) {
        await c.query('ROLLBACK').catch(() => undefined);
        throw e;
      }
    });
  }

  async function findRole(c: pg.ClientBase, role: string): Promise<RoleRow | null> {
    const r = await c.query<{ oid: number; comment: string | null }>(
      `SELECT oid::int AS oid, shobj_description(oid, 'pg_authid') AS comment FROM pg_roles WHERE rolname = $1`,
      [role],
    );
    return r.rows[0] ?? null;
  }

  function accountOf(ctx: ConnectorGrantContext): string {
    const fromState = ctx.state.account;
    return typeof fromState === 'string' && fromState !== '' ? fromState : roleName(config.role_prefix, ctx.grantId, ctx.grantee);
  }

  /** A role with our name but not our comment is someone else's: never touch it. */
  function assertOurs(row: RoleRow, role: string, grantId: string | null): void {
    const comment = decodeComment(row.comment);
    if (!comment || (grantId !== null && comment.grant !== grantId)) {
      throw new KeyshiftError('CONNECTOR_FAILED', `postgres connector "${name}": role "${role}" exists but was not created by Keyshift${grantId ? ` for grant ${grantId}` : ''}; refusing to touch it`);
    }
  }

  const validUntil = (d: Date) => literal(d.toISOString());

  /**
   * Creates or converges the role: LOGIN, VALID UNTIL, CONNECTION LIMIT, memberships exactly
   * `access.roles`, comment. One transaction: a refusal (unknown role, missing ADMIN OPTION)
   * leaves no role behind.
   */
  async function provision(ctx: ConnectorGrantContext, role: string, access: PostgresAccess): Promise<void> {
    const limit = access.connection_limit ?? config.connection_limit;
    await inTransaction(`create role "${role}"`, async (c) => {
      const found = await c.query<{ rolname: string }>(`SELECT rolname FROM pg_roles WHERE rolname = ANY($1::text[])`, [access.roles]);
      const missing = access.roles.filter((r) => !found.rows.some((f) => f.rolname === r));
      if (missing.length > 0) {
        throw new KeyshiftError('CONNECTOR_FAILED', `postgres connector "${name}": profile ${JSON.stringify(ctx.profile)} hands out group role(s) ${missing.map((m) => JSON.stringify(m)).join(', ')} that do not exist on the server`);
      }
      const existing = await findRole(c, role);
      const r = ident(role);
      if (existing) {
        assertOurs(existing, role, ctx.grantId);
        await c.query(`ALTER ROLE ${r} WITH LOGIN CONNECTION LIMIT ${limit} VALID UNTIL ${validUntil(ctx.endsAt)}`);
        const current = await c.query<{ rolname: string }>(
          `SELECT g.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid WHERE m.member = $1`,
          [existing.oid],
        );
        const extra = current.rows.map((x) => x.rolname).filter((g) => !access.roles.includes(g));
        if (extra.length > 0) await c.query(`REVOKE ${extra.map(ident).join(', ')} FROM ${r}`);
      } else {
        // No password yet (PASSWORD NULL: password logins fail) until issueCredentials.
        await c.query(
          `CREATE ROLE ${r} WITH LOGIN INHERIT NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS ` +
            `CONNECTION LIMIT ${limit} PASSWORD NULL VALID UNTIL ${validUntil(ctx.endsAt)}`,
        );
        const comment = encodeComment({ grant: ctx.grantId, grantee: ctx.grantee, profile: ctx.profile });
        await c.query(`COMMENT ON ROLE ${r} IS ${literal(comment)}`);
      }
      // Re-granting an existing membership is a no-op with a NOTICE.
      await c.query(`GRANT ${access.roles.map(ident).join(', ')} TO ${r}`);
    });
  }

  /** Ends every session of the role (by OID, so it also finds sessions of a just-dropped role). */
  async function terminateSessions(c: pg.ClientBase, oid: number, role: string): Promise<void> {
    let r: pg.QueryResult<{ ended: boolean }>;
    try {
      r = await c.query<{ ended: boolean }>(
        `SELECT pg_terminate_backend(pid, ${TERMINATE_WAIT_MS}) AS ended FROM pg_stat_activity WHERE usesysid = $1 AND pid <> pg_backend_pid()`,
        [oid],
      );
    } catch (e) {
      if (sqlState(e) === '42501') {
        throw new KeyshiftError('CONNECTOR_FAILED', `postgres connector "${name}": cannot end the open sessions of role "${role}": ${describe(e, secrets)} — grant pg_signal_backend to the admin role (see docs/connectors/postgres.md); the role is already NOLOGIN`, { retryable: false });
      }
      throw e;
    }
    if (r.rows.some((x) => !x.ended)) {
      throw new KeyshiftError('CONNECTOR_FAILED', `postgres connector "${name}": sessions of role "${role}" did not end within ${TERMINATE_WAIT_MS} ms; will retry`, { retryable: true });
    }
  }

  const holder = config.reassign_owned_to ?? `${config.role_prefix}orphaned_objects`;

  /**
   * Creates the default holder of revoked grantees' objects on first use (roles are
   * cluster-wide). Autocommit and race-tolerant: two revokes may both try.
   */
  async function ensureHolder(c: pg.ClientBase): Promise<void> {
    if (config.reassign_owned_to !== undefined) return; // the DBA's role; must exist
    if (await findRole(c, holder)) return;
    try {
      await c.query(`CREATE ROLE ${ident(holder)} WITH NOLOGIN NOINHERIT`);
      await c.query(`COMMENT ON ROLE ${ident(holder)} IS ${literal('Keyshift: owns objects created by revoked grants; no privileges, no login')}`);
    } catch (e) {
      const code = sqlState(e);
      if (code !== '42710' && code !== '23505') throw e;
    }
  }

  /**
   * Hands the objects the role created (in this connection's database) to the holder role
   * (or drops them, `owned_objects: drop`) and drops the role's privileges, so DROP ROLE
   * can succeed. One transaction. REASSIGN /
   * DROP OWNED need the privileges of both roles, which a non-superuser CREATEROLE admin
   * gets by granting them to itself (PG 15: CREATEROLE may; PG 16+: it holds ADMIN OPTION
   * on the roles it created). No-op when the role has nothing in this database.
   */
  async function releaseOwned(c: pg.ClientBase, oid: number, role: string): Promise<void> {
    const deps = await c.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_shdepend
        WHERE refclassid = 'pg_authid'::regclass AND refobjid = $1
          AND dbid = (SELECT oid FROM pg_database WHERE datname = current_database())`,
      [oid],
    );
    if ((deps.rows[0]?.n ?? 0) === 0) return;
    if (config.owned_objects === 'reassign') await ensureHolder(c);
    const r = ident(role);
    await c.query('BEGIN');
    try {
      const targets = config.owned_objects === 'reassign' ? [role, holder] : [role];
      for (const target of targets) {
        const has = await c.query<{ ok: boolean }>(`SELECT pg_has_role(current_user, $1::text, 'USAGE') AS ok`, [target]);
        if (!has.rows[0]?.ok) await c.query(`GRANT ${ident(target)} TO CURRENT_USER`);
      }
      if (config.owned_objects === 'reassign') {
        try {
          await c.query(`REASSIGN OWNED BY ${r} TO ${ident(holder)}`);
        } catch (e) {
          if (sqlState(e) !== '42501') throw e;
          throw new KeyshiftError('CONNECTOR_FAILED', `postgres connector "${name}": cannot hand the objects role "${role}" created to "${holder}": ${describe(e, secrets)} — grant "${holder}" CREATE on that schema, or set owned_objects: drop (the role is already NOLOGIN and its sessions ended)`, { retryable: false });
        }
      }
      await c.query(`DROP OWNED BY ${r}`);
      await c.query('COMMIT');
    } catch (e) {
      await c.query('ROLLBACK').catch(() => undefined);
      throw e;
    }
  }

  /** Same as releaseOwned, in the grantees' database when it is not the admin URL's. */
  async function releaseOwnedInClientDatabase(oid: number, role: string): Promise<void> {
    if (facts.client.database === facts.adminDatabase) return;
    // pg lets connectionString fields win over `database`: rewrite the URL instead.
    const url = new URL(facts.adminUrl);
    url.pathname = '/' + encodeURIComponent(facts.client.database);
    const c = new pg.Client({ connectionString: url.toString(), statement_timeout: 30_000 });
    c.on('error', () => undefined);
    try {
      await c.connect();
      await releaseOwned(c, oid, role);
    } finally {
      await c.end().catch(() => undefined);
    }
  }

  /**
   * NOLOGIN first (new logins refused even if a later step fails), then end sessions, free
   * owned objects, DROP ROLE, and end sessions again for any login that raced the first kill.
   * Idempotent: an absent role is success. `grantId` null means "any Keyshift role" (sweep).
   */
  async function dropAccount(role: string, grantId: string | null, doing: string): Promise<void> {
    const oid = await withClient(doing, async (c) => {
      const row = await findRole(c, role);
      if (!row) return null;
      assertOurs(row, role, grantId);
      const r = ident(role);
      await c.query(`ALTER ROLE ${r} WITH NOLOGIN PASSWORD NULL`);
      await terminateSessions(c, row.oid, role);
      return row.oid;
    });
    if (oid === null) return;
    try {
      await releaseOwnedInClientDatabase(oid, role);
    } catch (e) {
      throw fail(e, `${doing} (objects in database "${facts.client.database}")`);
    }
    await withClient(doing, async (c) => {
      await releaseOwned(c, oid, role);
      await c.query(`DROP ROLE IF EXISTS ${ident(role)}`);
      await terminateSessions(c, oid, role);
    });
  }

  function credentials(role: string, password: string, ctx: ConnectorGrantContext): IssuedCredentials {
    const { host, port, database, sslmode } = facts.client;
    const hostPart = host.includes(':') ? `[${host}]` : host;
    const query = sslmode ? `?sslmode=${encodeURIComponent(sslmode)}` : '';
    const uri = `postgresql://${encodeURIComponent(role)}:${encodeURIComponent(password)}@${hostPart}:${port}/${encodeURIComponent(database)}${query}`;
    return {
      kind: 'database',
      secret: { host, port, database, user: role, password, uri },
      expires_at: ctx.endsAt.toISOString(),
      audit: { account: role },
      state: { ...ctx.state, account: role },
    };
  }

  const connector: PostgresConnector = {
    name,
    type: 'postgres',

    check: (options = {}) => {
      const fromAccess = (options.access ?? []).flatMap((a) => {
        const parsed = PostgresAccessSchema.safeParse(a);
        return parsed.success ? parsed.data.roles : [];
      });
      return runCheck({ name, pool, secrets, roles: [...new Set([...(options.roles ?? []), ...fromAccess])] });
    },

    async grant(ctx) {
      const access = accessOf(ctx);
      const role = accountOf(ctx);
      try {
        await provision(ctx, role, access);
      } catch (e) {
        // Two callers raced to CREATE ROLE: the loser converges on the winner's role.
        const code = e instanceof KeyshiftError ? e.details?.sqlstate : sqlState(e);
        if (code !== '42710' && code !== '23505') throw e;
        await provision(ctx, role, access);
      }
      deps.log('info', 'postgres role provisioned', { connector: name, grant: ctx.grantId, account: role });
      return { ...ctx.state, account: role, roles: access.roles };
    },

    /**
     * A new random password on every call: the previous one stops working at once (open
     * sessions opened with it stay until revoke). The server receives only a SCRAM verifier.
     */
    async issueCredentials(ctx) {
      const role = accountOf(ctx);
      const password = generatePassword();
      await withClient(`set a password on role "${role}"`, async (c) => {
        const row = await findRole(c, role);
        if (!row) {
          throw new KeyshiftError('CONNECTOR_FAILED', `postgres connector "${name}": role "${role}" for grant ${ctx.grantId} does not exist (dropped or never provisioned)`);
        }
        assertOurs(row, role, ctx.grantId);
        await c.query(`ALTER ROLE ${ident(role)} WITH LOGIN PASSWORD ${literal(scramVerifier(password))} VALID UNTIL ${validUntil(ctx.endsAt)}`);
      });
      return credentials(role, password, ctx);
    },

    async extend(ctx) {
      const role = accountOf(ctx);
      await withClient(`move VALID UNTIL of role "${role}"`, async (c) => {
        const row = await findRole(c, role);
        if (!row) {
          throw new KeyshiftError('CONNECTOR_FAILED', `postgres connector "${name}": role "${role}" for grant ${ctx.grantId} does not exist (dropped or never provisioned)`);
        }
        assertOurs(row, role, ctx.grantId);
        await c.query(`ALTER ROLE ${ident(role)} VALID UNTIL ${validUntil(ctx.endsAt)}`);
      });
      return { state: { ...ctx.state, account: role } };
    },

    async revoke(ctx, info) {
      const role = accountOf(ctx);
      await dropAccount(role, ctx.grantId, `revoke role "${role}"`);
      deps.log('info', 'postgres role revoked', { connector: name, grant: ctx.grantId, account: role, early: info.early });
      return { ...ctx.state, account: role, revoked: true };
    },

    async listManagedAccounts(): Promise<ManagedAccount[]> {
      return withClient('list Keyshift roles', async (c) => {
        const r = await c.query<{ rolname: string; comment: string | null }>(
          `SELECT rolname, shobj_description(oid, 'pg_authid') AS comment FROM pg_roles
            WHERE left(rolname, length($1)) = $1 ORDER BY rolname`,
          [config.role_prefix],
        );
        return r.rows.flatMap((row) => {
          const comment = decodeComment(row.comment);
          return comment ? [{ account: row.rolname, grantId: comment.grant }] : [];
        });
      });
    },

    /** Orphan sweep: drops a Keyshift-made role. Idempotent; refuses roles Keyshift did not make. */
    async removeAccount(account) {
      await dropAccount(account, null, `remove orphan role "${account}"`);
      deps.log('info', 'postgres orphan role removed', { connector: name, account });
    },

    async close() {
      if (closed) return;
      closed = true;
      await pool.end();
    },
  };
  return connector;
}

export const postgresConnectorModule: ConnectorModule<PostgresConfig, PostgresAccess> = {
  configSchema: PostgresConfigSchema,
  accessSchema: PostgresAccessSchema,
  create: (name, config, deps) => createPostgresConnector(name, config, deps),
};
