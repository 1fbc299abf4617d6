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
import { KeyshiftError, conflict, invalidInput, notFound } from './errors.ts';
import { addSeconds } from './clock.ts';
import { newId } from './ids.ts';
import { formatDuration } from './duration.ts';

export const hashToken = (token: string) => createHash('sha256').update(token, 'utf8').digest('hex');

const TOKEN_SHAPE = /^ks_[A-Za-z0-9_-]{43}$/;

export function createTokenService(deps: Pick<CoreDeps, 'store' | 'clock' | 'directory' | 'afterCommit'>) {
  /** last_used_at is written at most once a minute per token: it is for humans, not audit. */
  const touched = new Map<string, number>();
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

  /** Admins see every token, others their own; never a secret or a hash. */
  async function list(who: Principal): Promise<ApiToken[]> {
    return deps.store.read.listTokens(who.admin ? {} : { user: who.email });
  }

  /** Revokes a token at once (admins: any; others: their own). Another user's token is NOT_FOUND. */
  async function revoke(actor: string, isAdmin: boolean, id: string): Promise<ApiToken> {
    const mine = (await deps.store.read.listTokens(isAdmin ? {} : { user: actor })).find((t) => t.id === id);
    if (!mine) throw notFound('token', id);
    if (mine.revoked_at) throw conflict(`token ${id} was revoked at ${mine.revoked_at}`);
    const now = deps.clock.now();
    let event: AuditEvent | null = null;
    await deps.store.transaction(async (tx) => {
      await tx.revokeToken(id, now.toISOString());
      event = await appendAudit(tx, { action: 'auth.token_revoked', actor, subject: mine.user, details: { token_id: id, label: mine.label } }, now);
    });
    if (event) deps.afterCommit([event]);
    return { ...mine, revoked_at: now.toISOString() };
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
    const now = deps.clock.now();
    if ((touched.get(row.id) ?? 0) < now.getTime() - 60_000) {
      touched.set(row.id, now.getTime());
      await deps.store.touchToken(row.id, now.toISOString()).catch(() => undefined);
    }
    return { ...who, tokenId: row.id };
  }

  return { create, authenticate, list, revoke };
}

export type TokenService = ReturnType<typeof createTokenService>;
