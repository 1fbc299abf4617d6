/**
 * `check()`: reachability plus every admin privilege the connector relies on, each missing
 * one named as a problem with the statement that fixes it. Never throws.
 *
 * What the admin needs (non-superuser):
 * - CREATEROLE, to create, alter and drop the temporary roles;
 * - the ability to end a revoked role's sessions: membership in pg_signal_backend (or, on
 *   PG 16+, `createrole_self_grant` including `inherit`, which gives it the privileges of
 *   every role it creates);
 * - PG 16+ only: ADMIN OPTION on each group role profiles hand out (PG 15's CREATEROLE may
 *   grant any non-superuser role).
 */
import type pg from 'pg';
import type { ConnectorCheck } from '../connector.ts';
import { describe } from './pg-errors.ts';

/** pg_terminate_backend(pid, timeout) appeared in PostgreSQL 14. */
const MIN_VERSION_NUM = 140000;
const PG16 = 160000;

interface AdminRow {
  admin: string;
  superuser: boolean;
  createrole: boolean;
  can_signal: boolean;
  version: string;
  version_num: number;
  self_grant: string | null;
}

interface RoleRow {
  role: string;
  exists: boolean;
  superuser: boolean;
  admin_option: boolean;
}

export async function runCheck(opts: { name: string; pool: pg.Pool; secrets: string[]; roles: string[] }): Promise<ConnectorCheck> {
  let client: pg.PoolClient;
  try {
    client = await opts.pool.connect();
  } catch (e) {
    return { ok: false, problems: [`cannot connect to the server: ${describe(e, opts.secrets)}`], info: {} };
  }
  let broken = false;
  try {
    const a = await client.query<AdminRow>(
      `SELECT current_user::text AS admin, r.rolsuper AS superuser, r.rolcreaterole AS createrole,
              pg_has_role(current_user, 'pg_signal_backend', 'USAGE') AS can_signal,
              current_setting('server_version') AS version,
              current_setting('server_version_num')::int AS version_num,
              current_setting('createrole_self_grant', true) AS self_grant
         FROM pg_roles r WHERE r.rolname = current_user`,
    );
    const admin = a.rows[0];
    if (!admin) return { ok: false, problems: ['cannot read the admin role from pg_roles'], info: {} };
    const info = { server_version: admin.version, admin_role: admin.admin, superuser: admin.superuser ? 'yes' : 'no' };
    const problems = adminProblems(admin);
    if (opts.roles.length > 0) {
      const r = await client.query<RoleRow>(
        `SELECT want.role, g.oid IS NOT NULL AS exists, coalesce(g.rolsuper, false) AS superuser,
                CASE WHEN g.oid IS NULL THEN false
                     ELSE pg_has_role(current_user, g.oid, 'MEMBER WITH ADMIN OPTION') END AS admin_option
           FROM unnest($1::text[]) AS want(role) LEFT JOIN pg_roles g ON g.rolname = want.role`,
        [opts.roles],
      );
      for (const row of r.rows) problems.push(...roleProblems(admin, row));
    }
    return { ok: problems.length === 0, problems, info };
  } catch (e) {
    broken = true;
    return { ok: false, problems: [`cannot inspect the admin role: ${describe(e, opts.secrets)}`], info: {} };
  } finally {
    client.release(broken);
  }
}

function adminProblems(a: AdminRow): string[] {
  const problems: string[] = [];
  const who = JSON.stringify(a.admin);
  if (a.version_num < MIN_VERSION_NUM) problems.push(`PostgreSQL ${a.version} is not supported: the connector needs 14 or later`);
  if (a.superuser) return problems;
  if (!a.createrole) problems.push(`admin role ${who} lacks CREATEROLE: ALTER ROLE ${who} CREATEROLE`);
  const inheritsCreated = a.version_num >= PG16 && /\binherit\b/i.test(a.self_grant ?? '');
  if (!a.can_signal && !inheritsCreated) {
    problems.push(`admin role ${who} cannot end the sessions of revoked roles (pg_signal_backend): GRANT pg_signal_backend TO ${who}`);
  }
  return problems;
}

function roleProblems(a: AdminRow, r: RoleRow): string[] {
  const role = JSON.stringify(r.role);
  const who = JSON.stringify(a.admin);
  if (!r.exists) return [`group role ${role} does not exist`];
  if (a.superuser) return [];
  if (r.superuser) return [`group role ${role} is a superuser role; a non-superuser admin cannot hand it out`];
  if (a.version_num >= PG16 && !r.admin_option) {
    return [`admin role ${who} lacks ADMIN OPTION on ${role} (needed on PostgreSQL 16+): GRANT ${role} TO ${who} WITH ADMIN OPTION`];
  }
  return [];
}
