/**
 * How a grant maps to a PostgreSQL role, and back.
 *
 * The name is derived from the grant ID only (plus a cosmetic, sanitized hint of the
 * grantee's local part so a DBA reading pg_stat_activity sees whose it is): it is
 * deterministic, so every retry of `grant()` finds the same role, and it is plain
 * `[a-z0-9_]`, ≤ 63 bytes (NAMEDATALEN - 1; longer names would be silently truncated
 * by the server and could collide). The raw grantee string (hostile input) reaches the
 * server only inside the role's COMMENT, escaped as a literal by the caller.
 */
import { KeyshiftError } from '../../core/errors.ts';

export const MAX_ROLE_NAME_BYTES = 63;
/** Below this the hint would be noise; the grant ID alone identifies the role. */
const MIN_HINT = 3;
const MAX_HINT = 16;

export function roleName(prefix: string, grantId: string, grantee: string): string {
  const id = grantId.toLowerCase();
  if (!/^[a-z0-9_]+$/.test(id)) {
    throw new KeyshiftError('CONNECTOR_FAILED', `grant ID ${JSON.stringify(grantId)} cannot name a database role`);
  }
  const base = prefix + id;
  if (Buffer.byteLength(base) > MAX_ROLE_NAME_BYTES) {
    throw new KeyshiftError('CONNECTOR_FAILED', `role name for grant ${JSON.stringify(grantId)} exceeds ${MAX_ROLE_NAME_BYTES} bytes`);
  }
  const room = Math.min(MAX_HINT, MAX_ROLE_NAME_BYTES - base.length - 1);
  const hint = granteeHint(grantee).slice(0, room).replace(/_+$/, '');
  return hint.length >= MIN_HINT ? `${base}_${hint}` : base;
}

/** `Zoë.O'Brien+oncall@example.com` → `zoe_o_brien_oncall`; only `[a-z0-9_]` survives. */
export function granteeHint(grantee: string): string {
  const at = grantee.lastIndexOf('@');
  const local = at > 0 ? grantee.slice(0, at) : grantee;
  return local
    .normalize('NFKD')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '');
}

const COMMENT_MARKER = 'keyshift:';

export interface RoleComment {
  grant: string;
  grantee: string;
  profile: string;
}

/**
 * The COMMENT ON ROLE text: marker + JSON with every non-printable-ASCII UTF-16 unit as a
 * \uXXXX escape (NUL cannot live in a PostgreSQL string; lone surrogates survive), so any
 * grantee string round-trips; the caller still passes the result through escapeLiteral.
 */
export function encodeComment(c: RoleComment): string {
  const json = JSON.stringify({ grant: c.grant, grantee: c.grantee, profile: c.profile });
  // ASCII only, so the comment fits a database of any server encoding (LATIN1, SQL_ASCII).
  return COMMENT_MARKER + json.replace(/[^\x20-\x7e]/g, (ch) => '\\u' + ch.charCodeAt(0).toString(16).padStart(4, '0'));
}

/** The grant a role comment names, or null when the comment is not Keyshift's. */
export function decodeComment(text: string | null): RoleComment | null {
  if (!text?.startsWith(COMMENT_MARKER)) return null;
  try {
    const v: unknown = JSON.parse(text.slice(COMMENT_MARKER.length));
    if (v && typeof v === 'object' && 'grant' in v && typeof v.grant === 'string') {
      const o = v as Record<string, unknown>;
      return { grant: v.grant, grantee: String(o.grantee ?? ''), profile: String(o.profile ?? '') };
    }
  } catch {
    // not ours
  }
  return null;
}
