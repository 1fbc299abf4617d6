/**
 * API tokens. The token is shown once at creation; only its SHA-256 is stored, so a copy
 * of the database holds nothing that authenticates. Lookup is by hash (no secret is ever
 * compared in a loop). Tokens name a user; the user's groups come from the directory at
 * each request, so removing someone from the config takes effect at once.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { CoreDeps } from './deps.ts';
import type { ApiToken, AuditEvent, Principal } from './model.ts';
import { appendAudit } from './audit-log.ts';
import { KeyshiftError, invalidInput } from './errors.ts';
import { addSeconds } from './clock.ts';
import { newId } from './ids.ts';
import { formatDuration } from './duration.ts';

export const hashToken = (token: string) => createHash('sha256').update(token, 'utf8').digest('hex');

const TOKEN_SHAPE = /^ks_[A-Za-z0-9_-]{43}$/;

export function createTokenService(deps: Pick<CoreDeps, 'store' | 'clock' | 'directory' | 'afterCommit'>) {
  async function create(createdBy: string, user: string, ttlSeconds: number | null, label: string | null): Promise<{ id: string; token: string; user: string; expires_at: string | null }> {
    const who = deps.directory.lookup(user);
    if (!who) throw invalidInput(`user ${JSON.stringify(user)} is not in the directory (identity.users)`);
    if (label !== null && label.length > 200) throw invalidInput('label is longer than 200 characters');
    const now = deps.clock.now();
    const token = 'ks_' + randomBytes(32).toString('base64url');
    const row: ApiToken & { token_hash: string } = {
      id: newId('tok', now.getTime()),
      user: who.email,
      token_hash: hashToken(token),
      label,
      created_at: now.toISOString(),
      created_by: createdBy,
      expires_at: ttlSeconds === null ? null : addSeconds(now, ttlSeconds).toISOString(),
      revoked_at: null,
      last_used_at: null,
    };
    let event: AuditEvent | null = null;
    await deps.store.transaction(async (tx) => {
      await tx.insertToken(row);
      event = await appendAudit(tx, { action: 'auth.token_created', actor: createdBy, subject: who.email, details: { token_id: row.id, label, expires_at: row.expires_at, ttl: ttlSeconds === null ? null : formatDuration(ttlSeconds) } }, now);
    });
    if (event) deps.afterCommit([event]);
    return { id: row.id, token, user: who.email, expires_at: row.expires_at };
  }

  /** Resolves a bearer token to a principal, or throws UNAUTHENTICATED (never says which check failed). */
  async function authenticate(token: string): Promise<Principal & { tokenId: string }> {
    const fail = () => new KeyshiftError('UNAUTHENTICATED', 'the token is missing, malformed, expired or revoked');
    if (!TOKEN_SHAPE.test(token)) throw fail();
    const row = await deps.store.read.tokenByHash(hashToken(token));
    if (!row || row.revoked_at) throw fail();
    if (row.expires_at && row.expires_at <= deps.clock.now().toISOString()) throw fail();
    const who = deps.directory.lookup(row.user);
    if (!who) throw fail();
    return { ...who, tokenId: row.id };
  }

  return { create, authenticate };
}

export type TokenService = ReturnType<typeof createTokenService>;
