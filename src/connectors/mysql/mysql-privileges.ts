/**
 * Strict parser for profile privilege strings: `PRIV[, PRIV…] ON db.*` or `… ON db.table`.
 * Privileges come from an allow-list (no ALL, no GRANT OPTION, no global-only rights) and
 * names from the unquoted-identifier character set (optionally in backticks), so nothing a
 * profile author writes can change the shape of the GRANT statement.
 */
import { quoteIdent } from './mysql-sql.ts';

export interface PrivilegeGrant {
  /** Upper-case privilege keywords from the allow-list, in the order written. */
  privileges: string[];
  database: string;
  /** `null` for `db.*`. */
  table: string | null;
}

/** Rights that make sense on one table. */
const TABLE_PRIVILEGES = new Set([
  'SELECT', 'INSERT', 'UPDATE', 'DELETE', 'CREATE', 'DROP', 'INDEX', 'ALTER', 'REFERENCES',
  'CREATE VIEW', 'SHOW VIEW', 'TRIGGER',
]);
/** Rights that only make sense on a whole database. */
const DATABASE_ONLY_PRIVILEGES = new Set([
  'EXECUTE', 'CREATE ROUTINE', 'ALTER ROUTINE', 'CREATE TEMPORARY TABLES', 'LOCK TABLES', 'EVENT',
]);

const NAME = '(?:[A-Za-z0-9_$]{1,64}|`[A-Za-z0-9_$-]{1,64}`)';
const OBJECT = new RegExp(`^(${NAME})\\.(${NAME}|\\*)$`);

const unquote = (name: string) => (name.startsWith('`') ? name.slice(1, -1) : name);

/** Returns the parsed grant, or a message saying what is wrong (quoting the input). */
export function parsePrivilege(input: string): PrivilegeGrant | string {
  const shown = JSON.stringify(input);
  const parts = input.trim().split(/\s+ON\s+/i);
  if (parts.length !== 2 || parts[0] === '' || parts[1] === '') {
    return `privilege ${shown} must look like "SELECT ON shop.*" or "SELECT, INSERT ON shop.orders"`;
  }
  const [list, object] = parts as [string, string];
  const match = OBJECT.exec(object);
  if (!match) {
    return `privilege ${shown}: ${JSON.stringify(object)} must be db.* or db.table with names of letters, digits, _ and $ (global *.* rights are not handed out; use a role)`;
  }
  const database = unquote(match[1]!);
  const table = match[2] === '*' ? null : unquote(match[2]!);
  const privileges: string[] = [];
  for (const raw of list.split(',')) {
    const keyword = raw.trim().replace(/\s+/g, ' ').toUpperCase();
    const allowed = TABLE_PRIVILEGES.has(keyword) || (table === null && DATABASE_ONLY_PRIVILEGES.has(keyword));
    if (!allowed) {
      const where = DATABASE_ONLY_PRIVILEGES.has(keyword) ? ' on a single table' : '';
      return `privilege ${shown}: ${JSON.stringify(raw.trim())} is not a privilege Keyshift hands out${where}; allowed: ${[...TABLE_PRIVILEGES, ...DATABASE_ONLY_PRIVILEGES].join(', ')}`;
    }
    if (!privileges.includes(keyword)) privileges.push(keyword);
  }
  return { privileges, database, table };
}

/**
 * The `ON …` object of a GRANT. At database level MySQL treats `_` and `%` in the name as
 * wildcards, so `_` is escaped there (`shop_eu.*` must not also match `shopXeu`); table-level
 * grants take the database name literally.
 */
export function grantObject(g: PrivilegeGrant): string {
  if (g.table === null) return `${quoteIdent(g.database.replace(/_/g, '\\_'))}.*`;
  return `${quoteIdent(g.database)}.${quoteIdent(g.table)}`;
}
