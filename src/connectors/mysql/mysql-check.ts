/**
 * What `check()` inspects on the target: server version, event scheduler, the guard schema,
 * and the admin user's own privileges (read from information_schema, which every user may
 * read for itself). Privileges the admin holds only through a role are not seen: grant
 * them directly, as docs/connectors/mysql.md says.
 */
import type { PoolConnection, RowDataPacket } from 'mysql2/promise';
import type { MysqlConfig, MysqlAccess } from './mysql-schemas.ts';

export interface ServerFacts {
  version: string;
  mariadb: boolean;
  /** `ON`, `OFF` or `DISABLED`. */
  scheduler: string;
}

export async function serverFacts(conn: PoolConnection): Promise<ServerFacts> {
  const [rows] = await conn.query<RowDataPacket[]>('SELECT VERSION() AS version, @@GLOBAL.event_scheduler AS scheduler');
  const version = String(rows[0]?.version ?? '');
  return { version, mariadb: /mariadb/i.test(version), scheduler: String(rows[0]?.scheduler ?? 'OFF').toUpperCase() };
}

interface PrivilegeRow extends RowDataPacket {
  scope: string;
  schema_name: string | null;
  privilege: string;
  grantable: string;
}

/**
 * For every privilege a profile hands out directly, the admin needs the same right WITH
 * GRANT OPTION on that object (or above it); otherwise every grant fails at GRANT time.
 */
function handOutProblems(rows: PrivilegeRow[], accesses: MysqlAccess[]): string[] {
  const problems = new Set<string>();
  const grantable = (priv: string, database: string, table: string | null) =>
    rows.some((r) => {
      if (r.grantable !== 'YES') return false;
      const p = norm(r.privilege);
      if (p !== priv && p !== 'ALL PRIVILEGES') return false;
      if (r.scope === 'global') return true;
      if (r.scope === 'schema') return unescapeSchema(r.schema_name ?? '') === database;
      return table !== null && r.schema_name === database;
    });
  for (const access of accesses) {
    for (const g of access.privileges) {
      for (const p of g.privileges) {
        if (!grantable(p, g.database, g.table)) problems.add(`admin user cannot hand out ${p} ON ${g.database}.${g.table ?? '*'} (needs it WITH GRANT OPTION)`);
      }
    }
  }
  return [...problems];
}

interface RoleRow extends RowDataPacket {
  role: string;
  grantable: string;
}

/** Roles profiles hand out must exist and be grantable by the admin (WITH ADMIN OPTION). */
async function roleProblems(conn: PoolConnection, accesses: MysqlAccess[]): Promise<string[]> {
  let rows: RoleRow[];
  try {
    [rows] = await conn.query<RoleRow[]>('SELECT ROLE_NAME AS role, IS_GRANTABLE AS grantable FROM information_schema.APPLICABLE_ROLES');
  } catch {
    return ['cannot read information_schema.APPLICABLE_ROLES to check the roles profiles hand out'];
  }
  const problems: string[] = [];
  for (const role of new Set(accesses.flatMap((a) => a.roles))) {
    const row = rows.find((r) => r.role === role);
    if (!row) problems.push(`admin user does not hold role ${role} (GRANT ${role} TO the admin WITH ADMIN OPTION), or it does not exist`);
    else if (row.grantable !== 'YES') problems.push(`admin user holds role ${role} without ADMIN OPTION, so it cannot hand it out`);
  }
  return problems;
}

/** `CONNECTION_ADMIN` (MySQL) and `CONNECTION ADMIN` (MariaDB) compare equal. */
const norm = (p: string) => p.toUpperCase().replace(/_/g, ' ');
/** Schema names in grants may carry escaped wildcards: `keyshift\_guard`. */
const unescapeSchema = (s: string) => s.replace(/\\([_%])/g, '$1');

export async function adminProblems(conn: PoolConnection, config: MysqlConfig, facts: ServerFacts, accesses: MysqlAccess[] = []): Promise<string[]> {
  const problems: string[] = [];
  const [rows] = await conn.query<PrivilegeRow[]>(
    `SELECT 'global' AS scope, NULL AS schema_name, PRIVILEGE_TYPE AS privilege, IS_GRANTABLE AS grantable
       FROM information_schema.USER_PRIVILEGES
     UNION ALL
     SELECT 'schema', TABLE_SCHEMA, PRIVILEGE_TYPE, IS_GRANTABLE FROM information_schema.SCHEMA_PRIVILEGES
     UNION ALL
     SELECT 'table', TABLE_SCHEMA, PRIVILEGE_TYPE, IS_GRANTABLE FROM information_schema.TABLE_PRIVILEGES`,
  );
  const global = new Set(rows.filter((r) => r.scope === 'global').map((r) => norm(r.privilege)));
  const has = (p: string) => global.has(p) || global.has('ALL PRIVILEGES');

  for (const p of ['CREATE USER', 'PROCESS']) {
    if (!has(p)) problems.push(`admin user lacks the ${p} privilege (needed to ${p === 'PROCESS' ? "find a revoked account's sessions" : 'create and drop temporary accounts'})`);
  }
  if (!has('CONNECTION ADMIN') && !has('SUPER')) {
    problems.push(`admin user lacks CONNECTION ADMIN (or SUPER), needed to KILL a revoked account's sessions`);
  }
  if (!rows.some((r) => r.grantable === 'YES')) {
    problems.push('admin user holds nothing WITH GRANT OPTION, so it cannot hand out privileges (GRANT OPTION missing)');
  }
  if (config.expiry_guard === 'event') {
    const eventOnSchema = rows.some(
      (r) => r.scope === 'schema' && norm(r.privilege) === 'EVENT' && unescapeSchema(r.schema_name ?? '') === config.guard_schema,
    );
    if (!has('EVENT') && !eventOnSchema) {
      problems.push(`admin user lacks the EVENT privilege on ${config.guard_schema}.* (needed for the expiry guard events)`);
    }
    const [schemas] = await conn.query<RowDataPacket[]>('SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?', [config.guard_schema]);
    if (schemas.length === 0) problems.push(`guard schema ${config.guard_schema} does not exist (CREATE DATABASE ${config.guard_schema})`);
    if (facts.scheduler !== 'ON') {
      problems.push(
        `event_scheduler is ${facts.scheduler}: grants get no target-side expiry guard, so access ends only when Keyshift revokes it (SET GLOBAL event_scheduler = ON, and event_scheduler=ON in my.cnf)`,
      );
    }
  }
  problems.push(...handOutProblems(rows, accesses));
  if (accesses.some((a) => a.roles.length > 0)) problems.push(...(await roleProblems(conn, accesses)));
  try {
    await conn.query('SELECT 1 FROM mysql.user LIMIT 0');
  } catch {
    problems.push('admin user lacks SELECT on mysql.user (needed to find existing and orphaned accounts)');
  }
  return problems;
}
