/**
 * MySQL / MariaDB connector: one temporary account per grant (`ks_<grant ULID>`), created
 * locked, unlocked with a fresh password when credentials are issued, and dropped on revoke
 * after its sessions are killed. A one-shot event in `guard_schema` drops the account at the
 * deadline by itself when the event scheduler is on (the target-side guard).
 * See docs/connectors/mysql.md.
 */
import { createConnection, createPool, type Pool, type PoolConnection, type RowDataPacket } from 'mysql2/promise';
import { KeyshiftError } from '../../core/errors.ts';
import type {
  Connector,
  ConnectorCheck,
  ConnectorCheckInput,
  ConnectorDeps,
  ConnectorGrantContext,
  ConnectorModule,
  ConnectorState,
  IssuedCredentials,
  ManagedAccount,
} from '../connector.ts';
import { adminProblems, serverFacts, type ServerFacts } from './mysql-check.ts';
import { isDriverError, redact, toConnectorError } from './mysql-errors.ts';
import { grantObject } from './mysql-privileges.ts';
import { MysqlAccessSchema, MysqlConfigSchema, type MysqlAccess, type MysqlConfig } from './mysql-schemas.ts';
import {
  accountName,
  alterGuardEventSql,
  createGuardEventSql,
  dropGuardEventSql,
  grantIdOf,
  newPassword,
  quoteIdent,
  type Sql,
} from './mysql-sql.ts';

interface AdminEndpoint {
  host: string;
  port: number;
  user: string;
  password: string;
}

function adminEndpoint(url: string): AdminEndpoint {
  const u = new URL(url);
  return {
    host: u.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: u.port === '' ? 3306 : Number(u.port),
    user: decodeURIComponent(u.username),
    password: decodeURIComponent(u.password),
  };
}

const failed = (message: string) => new KeyshiftError('CONNECTOR_FAILED', message);

/** Grant IDs come from core; anything else is a bug upstream, refused before any SQL. */
function accountFor(prefix: string, grantId: string): string {
  try {
    return accountName(prefix, grantId);
  } catch (e) {
    throw new KeyshiftError('INVALID_INPUT', e instanceof Error ? e.message : String(e));
  }
}

export function createMysqlConnector(name: string, config: MysqlConfig, deps: ConnectorDeps): Connector {
  const admin = adminEndpoint(config.url);
  const accountHost = config.account_host;
  const adminSecrets = [admin.password];
  let pool: Pool | null = null;

  const getPool = (): Pool => {
    pool ??= createPool({
      host: admin.host,
      port: admin.port,
      user: admin.user,
      password: admin.password,
      connectionLimit: 4,
      maxIdle: 1,
      idleTimeout: 30_000,
      connectTimeout: 5_000,
      enableKeepAlive: true,
      multipleStatements: false,
    });
    return pool;
  };

  /** Runs `fn` on one admin connection; every error leaves as a scrubbed KeyshiftError. */
  async function withAdmin<T>(what: string, secrets: string[], fn: (conn: PoolConnection) => Promise<T>): Promise<T> {
    const label = `mysql connector ${JSON.stringify(name)}: ${what}`;
    let conn: PoolConnection;
    try {
      conn = await getPool().getConnection();
    } catch (e) {
      throw toConnectorError(e, label, [...adminSecrets, ...secrets]);
    }
    let broken = false;
    try {
      return await fn(conn);
    } catch (e) {
      broken = typeof e === 'object' && e !== null && (e as { fatal?: unknown }).fatal === true;
      throw toConnectorError(e, label, [...adminSecrets, ...secrets]);
    } finally {
      if (broken) conn.destroy();
      else conn.release();
    }
  }

  const run = (conn: PoolConnection, q: Sql) => conn.query(q.sql, q.values);

  async function accountExists(conn: PoolConnection, account: string): Promise<boolean> {
    const [rows] = await conn.query<RowDataPacket[]>('SELECT 1 FROM mysql.user WHERE User = ? AND Host = ?', [account, accountHost]);
    return rows.length > 0;
  }

  const guardWanted = (facts: ServerFacts) => config.expiry_guard === 'event' && facts.scheduler === 'ON';

  /** Creates or moves the guard event; returns its `schema.name`, or null when there is none. */
  async function placeGuard(conn: PoolConnection, facts: ServerFacts, account: string, ctx: ConnectorGrantContext, move: boolean): Promise<string | null> {
    if (!guardWanted(facts)) {
      if (config.expiry_guard === 'event') {
        deps.log('warn', 'event_scheduler is not ON: this grant has no target-side expiry guard', { connector: name, grant: ctx.grantId, scheduler: facts.scheduler });
      }
      return null;
    }
    await conn.query("SET time_zone = '+00:00'");
    const [rows] = await conn.query<RowDataPacket[]>(
      'SELECT 1 FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ? AND EVENT_NAME = ?',
      [config.guard_schema, account],
    );
    if (rows.length > 0 && move) await run(conn, alterGuardEventSql(config.guard_schema, account, ctx.endsAt));
    else {
      if (rows.length > 0) await run(conn, dropGuardEventSql(config.guard_schema, account));
      await run(conn, createGuardEventSql(config.guard_schema, account, accountHost, ctx.grantId, ctx.endsAt));
    }
    return `${config.guard_schema}.${account}`;
  }

  /**
   * MariaDB lets only the account itself (or a holder of UPDATE on the mysql schema, which
   * is root in all but name) set its default role. So Keyshift logs in once as the new
   * account with a throwaway password and sets it; the account is locked again after.
   */
  async function mariadbDefaultRole(conn: PoolConnection, account: string, role: string, secrets: string[]): Promise<void> {
    const bootstrap = newPassword();
    secrets.push(bootstrap);
    await conn.query('ALTER USER ?@? IDENTIFIED BY ? ACCOUNT UNLOCK', [account, accountHost, bootstrap]);
    try {
      const self = await createConnection({ host: admin.host, port: admin.port, user: account, password: bootstrap, connectTimeout: 5_000 });
      try {
        await self.query(`SET DEFAULT ROLE ${quoteIdent(role)}`);
      } finally {
        await self.end().catch(() => undefined);
      }
    } finally {
      await conn.query('ALTER USER ?@? IDENTIFIED BY ? ACCOUNT LOCK', [account, accountHost, newPassword()]);
    }
  }

  /** Locks, kills sessions, drops account and guard. Idempotent: every step tolerates "already gone". */
  async function removeEverything(conn: PoolConnection, account: string): Promise<number> {
    await conn.query('ALTER USER IF EXISTS ?@? ACCOUNT LOCK', [account, accountHost]);
    const [sessions] = await conn.query<RowDataPacket[]>('SELECT ID FROM information_schema.PROCESSLIST WHERE USER = ?', [account]);
    let killed = 0;
    for (const s of sessions) {
      try {
        await conn.query('KILL CONNECTION ?', [Number(s.ID)]);
        killed++;
      } catch (e) {
        if (!isDriverError(e, 'ER_NO_SUCH_THREAD')) throw e; // ended by itself meanwhile
      }
    }
    await conn.query('DROP USER IF EXISTS ?@?', [account, accountHost]);
    if (config.expiry_guard === 'event') {
      try {
        await run(conn, dropGuardEventSql(config.guard_schema, account));
      } catch (e) {
        if (!isDriverError(e, 'ER_BAD_DB_ERROR')) throw e; // no guard schema, so no event either
      }
    }
    return killed;
  }

  const connector: Connector = {
    name,
    type: 'mysql',

    async check(input?: ConnectorCheckInput): Promise<ConnectorCheck> {
      // Profiles' access blocks arrive parsed by accessSchema (privilege strings already
      // turned into grants); raw blocks from other callers are parsed here.
      const accesses = (input?.access ?? []).flatMap((a): MysqlAccess[] => {
        const parsed = MysqlAccessSchema.safeParse(a);
        if (parsed.success) return [parsed.data];
        const shaped = a as Partial<MysqlAccess>;
        return Array.isArray(shaped.roles) && Array.isArray(shaped.privileges) ? [shaped as MysqlAccess] : [];
      });
      const info: Record<string, string> = { expiry_guard: config.expiry_guard, account_host: accountHost };
      try {
        return await withAdmin('check', [], async (conn) => {
          const facts = await serverFacts(conn);
          info.version = facts.version;
          info.event_scheduler = facts.scheduler;
          if (config.expiry_guard === 'none') {
            info.warning = 'expiry_guard is none: no target-side guard; access ends only when Keyshift revokes it';
          }
          const problems = await adminProblems(conn, config, facts, accesses);
          return { ok: problems.length === 0, problems, info };
        });
      } catch (e) {
        const message = e instanceof Error ? e.message : String(e);
        return { ok: false, problems: [redact(message, adminSecrets)], info };
      }
    },

    async grant(ctx) {
      const access = ctx.access as MysqlAccess;
      const account = accountFor(config.user_prefix, ctx.grantId);
      const secrets: string[] = [];
      return withAdmin(`grant ${ctx.grantId}`, secrets, async (conn) => {
        const facts = await serverFacts(conn);
        if (facts.mariadb && access.roles.length > 1) {
          throw failed(`mysql connector ${JSON.stringify(name)}: MariaDB activates one default role per account; profile ${JSON.stringify(ctx.profile)} lists ${access.roles.length} roles (wrap them in one role)`);
        }
        if (ctx.endsAt.getTime() <= deps.clock.now().getTime()) {
          throw failed(`mysql connector ${JSON.stringify(name)}: grant ${ctx.grantId} ends in the past (${ctx.endsAt.toISOString()})`);
        }
        const initial = newPassword();
        secrets.push(initial);
        try {
          // Locked until credentials are issued: nobody knows this password anyway.
          await conn.query('CREATE USER IF NOT EXISTS ?@? IDENTIFIED BY ? ACCOUNT LOCK', [account, accountHost, initial]);
          for (const g of access.privileges) {
            await conn.query(`GRANT ${g.privileges.join(', ')} ON ${grantObject(g)} TO ?@?`, [account, accountHost]);
          }
          if (access.roles.length > 0) {
            await conn.query(`GRANT ${access.roles.map(quoteIdent).join(', ')} TO ?@?`, [account, accountHost]);
            if (facts.mariadb) await mariadbDefaultRole(conn, account, access.roles[0]!, secrets);
            else await conn.query('SET DEFAULT ROLE ALL TO ?@?', [account, accountHost]);
          }
          const guard = await placeGuard(conn, facts, account, ctx, false);
          return { account, account_host: accountHost, guard_event: guard } satisfies ConnectorState;
        } catch (e) {
          // Nothing half-created: whatever the failure, the account and its event go.
          await removeEverything(conn, account).catch((cleanupError: unknown) => {
            deps.log('error', 'could not clean up a failed grant; the orphan sweep will retry', {
              connector: name,
              grant: ctx.grantId,
              error: toConnectorError(cleanupError, 'cleanup', [...adminSecrets, ...secrets]).message,
            });
          });
          throw e;
        }
      });
    },

    async issueCredentials(ctx): Promise<IssuedCredentials> {
      const account = accountFor(config.user_prefix, ctx.grantId);
      const password = newPassword();
      await withAdmin(`issue credentials for ${ctx.grantId}`, [password], async (conn) => {
        try {
          // A new password invalidates the earlier one for new logins (open sessions stay until revoke).
          await conn.query('ALTER USER ?@? IDENTIFIED BY ? ACCOUNT UNLOCK', [account, accountHost, password]);
        } catch (e) {
          if (isDriverError(e, 'ER_CANNOT_USER')) throw failed(`mysql connector ${JSON.stringify(name)}: account ${account} for grant ${ctx.grantId} no longer exists`);
          throw e;
        }
      });
      const host = config.client_host ?? admin.host;
      const port = config.client_port ?? admin.port;
      const database = config.database ?? '';
      const uriHost = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
      return {
        kind: 'database',
        secret: {
          host,
          port,
          database,
          user: account,
          password,
          uri: `mysql://${encodeURIComponent(account)}:${encodeURIComponent(password)}@${uriHost}:${port}/${encodeURIComponent(database)}`,
        },
        expires_at: ctx.endsAt.toISOString(),
        audit: { account: `${account}@${accountHost}` },
        state: { ...ctx.state, account, account_host: accountHost },
      };
    },

    async extend(ctx) {
      const account = accountFor(config.user_prefix, ctx.grantId);
      return withAdmin(`extend ${ctx.grantId}`, [], async (conn) => {
        if (!(await accountExists(conn, account))) {
          throw failed(`mysql connector ${JSON.stringify(name)}: account ${account} for grant ${ctx.grantId} no longer exists (expired at the target?)`);
        }
        const facts = await serverFacts(conn);
        const guard = await placeGuard(conn, facts, account, ctx, true);
        return { state: { ...ctx.state, account, account_host: accountHost, guard_event: guard } };
      });
    },

    async revoke(ctx) {
      const account = accountFor(config.user_prefix, ctx.grantId);
      return withAdmin(`revoke ${ctx.grantId}`, [], async (conn) => {
        const killed = await removeEverything(conn, account);
        return { ...ctx.state, account, account_host: accountHost, guard_event: null, revoked: true, sessions_killed: killed };
      });
    },

    async listManagedAccounts(): Promise<ManagedAccount[]> {
      return withAdmin('list managed accounts', [], async (conn) => {
        const like = config.user_prefix.replace(/[\\_%]/g, '\\$&') + '%';
        const [rows] = await conn.query<RowDataPacket[]>('SELECT User AS user FROM mysql.user WHERE User LIKE ? AND Host = ?', [like, accountHost]);
        return rows
          .map((r) => String(r.user))
          .filter((u) => grantIdOf(config.user_prefix, u) !== null)
          .map((u) => ({ account: u, grantId: grantIdOf(config.user_prefix, u) }));
      });
    },

    async removeAccount(account: string): Promise<void> {
      if (grantIdOf(config.user_prefix, account) === null) {
        throw failed(`mysql connector ${JSON.stringify(name)}: refusing to remove ${JSON.stringify(account)}, which this connector did not create`);
      }
      await withAdmin(`remove account ${account}`, [], (conn) => removeEverything(conn, account));
    },

    async close(): Promise<void> {
      const p = pool;
      pool = null;
      await p?.end().catch(() => undefined);
    },
  };
  return connector;
}

export const mysqlConnectorModule: ConnectorModule<MysqlConfig, MysqlAccess> = {
  configSchema: MysqlConfigSchema,
  accessSchema: MysqlAccessSchema,
  create: createMysqlConnector,
};
