/**
 * SQL text for the mysql connector. Values go through mysql2's `?` placeholders (escaped
 * client-side: MySQL's prepared-statement protocol does not accept account management
 * statements); identifiers, which placeholders cannot carry, are backtick-quoted here.
 * Every name reaching these builders was validated first (see mysql-schemas.ts).
 */
import { randomInt } from 'node:crypto';
import { isId } from '../../core/ids.ts';

/** Backtick-quotes an identifier, doubling embedded backticks. */
export function quoteIdent(name: string): string {
  return '`' + name.replace(/`/g, '``') + '`';
}

/**
 * The account name for a grant: prefix + the ID's 26 ULID characters in lower case, so at
 * most 6 + 26 = 32 characters (MySQL 8's limit) and reversible for the orphan sweep. The
 * grantee never appears in it.
 */
export function accountName(prefix: string, grantId: string): string {
  if (!isId('grt', grantId)) throw new Error(`grant ID ${JSON.stringify(grantId)} is not a grt_ ID`);
  return prefix + grantId.slice(4).toLowerCase();
}

/** The grant ID an account name was made from, or null when it is not one of ours. */
export function grantIdOf(prefix: string, account: string): string | null {
  if (!account.startsWith(prefix)) return null;
  const rest = account.slice(prefix.length);
  return /^[0-9a-hjkmnp-tv-z]{26}$/.test(rest) ? 'grt_' + rest.toUpperCase() : null;
}

const LOWER = 'abcdefghijkmnopqrstuvwxyz';
const UPPER = 'ABCDEFGHJKLMNPQRSTUVWXYZ';
const DIGITS = '23456789';
const SYMBOLS = '-_.';

/**
 * A 32-character random password with every character class, so that password-validation
 * plugins accept it, and only URL-unreserved characters, so the URI needs no escaping.
 */
export function newPassword(): string {
  const all = LOWER + UPPER + DIGITS + SYMBOLS;
  const pick = (set: string) => set[randomInt(set.length)]!;
  const chars = [pick(LOWER), pick(UPPER), pick(DIGITS), pick(SYMBOLS)];
  while (chars.length < 31) chars.push(pick(all));
  for (let i = chars.length - 1; i > 0; i--) {
    const j = randomInt(i + 1);
    [chars[i], chars[j]] = [chars[j]!, chars[i]!];
  }
  // Start with a letter: some clients mis-read a leading '-' on the command line.
  return pick(LOWER) + chars.join('');
}

/** `2026-01-01 12:00:00` in UTC, rounded down: a guard may fire early, never late. */
export function utcDatetime(d: Date): string {
  return d.toISOString().slice(0, 19).replace('T', ' ');
}

export interface Sql {
  sql: string;
  values: unknown[];
}

/**
 * The one-shot guard event: at the deadline it drops the account (no new logins), then
 * kills the account's sessions. Each step swallows its own errors so that a session that
 * ended by itself (unknown thread) does not stop the rest. Runs as its definer, the admin
 * user, so it needs that user's CREATE USER and CONNECTION ADMIN (or SUPER) and PROCESS.
 * The caller sets `time_zone = '+00:00'` first: `AT` is read in the session time zone.
 */
export function createGuardEventSql(schema: string, account: string, host: string, grantId: string, at: Date): Sql {
  return {
    sql: `CREATE EVENT ${quoteIdent(schema)}.${quoteIdent(account)}
  ON SCHEDULE AT ? ON COMPLETION NOT PRESERVE ENABLE
  COMMENT ?
  DO BEGIN
    DECLARE done INT DEFAULT 0;
    DECLARE tid BIGINT UNSIGNED;
    DECLARE cur CURSOR FOR SELECT ID FROM information_schema.PROCESSLIST WHERE USER = ?;
    DECLARE CONTINUE HANDLER FOR NOT FOUND SET done = 1;
    BEGIN
      DECLARE CONTINUE HANDLER FOR SQLEXCEPTION BEGIN END;
      DROP USER IF EXISTS ?@?;
    END;
    OPEN cur;
    sessions: LOOP
      FETCH cur INTO tid;
      IF done THEN LEAVE sessions; END IF;
      BEGIN
        DECLARE CONTINUE HANDLER FOR SQLEXCEPTION BEGIN END;
        KILL CONNECTION tid;
      END;
    END LOOP;
    CLOSE cur;
  END`,
    values: [utcDatetime(at), `keyshift expiry guard for ${grantId}`, account, account, host],
  };
}

export function alterGuardEventSql(schema: string, account: string, at: Date): Sql {
  return {
    sql: `ALTER EVENT ${quoteIdent(schema)}.${quoteIdent(account)} ON SCHEDULE AT ?`,
    values: [utcDatetime(at)],
  };
}

export function dropGuardEventSql(schema: string, account: string): Sql {
  return { sql: `DROP EVENT IF EXISTS ${quoteIdent(schema)}.${quoteIdent(account)}`, values: [] };
}
