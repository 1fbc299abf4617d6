/**
 * The `mysql` connector's config and profile `access` schemas. Everything that ends up in
 * SQL is validated here against a narrow character set, so the SQL builders never have to
 * quote anything an attacker chose (they still quote, as a second line).
 */
import { z } from 'zod';
import { parsePrivilege, type PrivilegeGrant } from './mysql-privileges.ts';

/** Unquoted MySQL identifier characters; what a schema/database name may contain here. */
export const IDENTIFIER = /^[A-Za-z0-9_$]{1,64}$/;
/** Role names: identifier characters plus `-` and `.` (quoted with backticks in SQL). */
const ROLE_NAME = /^[A-Za-z0-9_$.-]{1,64}$/;
/** Account host patterns: `%`, `10.0.%`, `db.example.com`, `10.0.0.0/255.255.0.0`, `::1`. */
const ACCOUNT_HOST = /^[A-Za-z0-9.%_:/-]{1,255}$/;

function isAdminUrl(value: string): boolean {
  try {
    const u = new URL(value);
    return (u.protocol === 'mysql:' || u.protocol === 'mariadb:') && u.hostname !== '' && u.username !== '';
  } catch {
    return false;
  }
}

export const MysqlConfigSchema = z
  .object({
    /** Admin URL `mysql://user:password@host:port`; the password never appears in errors. */
    url: z.string().refine(isAdminUrl, { message: 'must be a mysql:// or mariadb:// URL with a user and a host' }),
    /** Host and port handed to grantees, when they differ from the admin URL's. */
    client_host: z.string().regex(/^[A-Za-z0-9.:[\]-]{1,255}$/, 'must be a host name or address').optional(),
    client_port: z.number().int().min(1).max(65535).optional(),
    /** Default database in issued credentials and the connection URI. */
    database: z.string().regex(IDENTIFIER, 'must be a plain database name').optional(),
    account_host: z.string().regex(ACCOUNT_HOST, 'must be a MySQL account host pattern such as % or 10.0.%').default('%'),
    /** Prefix of every account this connector creates; at most 6 characters so names stay ≤ 32. */
    user_prefix: z.string().regex(/^[a-z][a-z0-9_]{0,5}$/, 'must be 1-6 characters: a lowercase letter, then lowercase letters, digits or _').default('ks_'),
    expiry_guard: z.enum(['event', 'none']).default('event'),
    guard_schema: z.string().regex(IDENTIFIER, 'must be a plain database name').default('keyshift_guard'),
  })
  .strict();

export type MysqlConfig = z.infer<typeof MysqlConfigSchema>;

const privilegeString = z.string().transform((value, ctx): PrivilegeGrant => {
  const parsed = parsePrivilege(value);
  if (typeof parsed === 'string') {
    ctx.addIssue({ code: 'custom', message: parsed, input: value });
    return z.NEVER;
  }
  return parsed;
});

export const MysqlAccessSchema = z
  .object({
    /** Existing roles, granted to the temporary account and made its default roles. */
    roles: z.array(z.string().regex(ROLE_NAME, 'must be a role name (letters, digits, _ $ . -)')).optional(),
    /** Privilege strings such as `SELECT ON shop.*` or `SELECT, INSERT ON shop.orders`. */
    privileges: z.array(privilegeString).optional(),
  })
  .strict()
  .refine((a) => (a.roles?.length ?? 0) + (a.privileges?.length ?? 0) > 0, {
    message: 'give at least one of roles or privileges',
  })
  .transform((a) => ({ roles: a.roles ?? [], privileges: a.privileges ?? [] }));

export type MysqlAccess = z.infer<typeof MysqlAccessSchema>;
