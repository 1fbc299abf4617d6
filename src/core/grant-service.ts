/**
 * Grants after approval: activation at the target, credentials, extension, and every way
 * a grant ends. Connector calls never happen inside a transaction: the pattern is
 * claim (tx) → act at the target → record (tx), and every step is safe to repeat after a
 * crash because connector calls are idempotent and each record step re-checks state.
 */
import type { CoreDeps } from './deps.ts';
import type { AccessRequest, Grant, GrantEnding, Principal } from './model.ts';
import type { ConnectorGrantContext, IssuedCredentials } from './ports.ts';
import { committer } from './commit.ts';
import type { AppendAudit } from './commit.ts';
import type { StoreTx } from './ports.ts';
import { appendAuditBatch } from './audit-log.ts';
import type { AuditInput } from './model.ts';
import { KeyshiftError, conflict, notFound, policyDenied, scrubSecrets } from './errors.ts';
import { addSeconds } from './clock.ts';
import { formatDuration } from './duration.ts';
import { isEligibleApprover } from './policy-engine.ts';
import { extensionProblem } from './extension-limits.ts';

/** Backoff for failed revocations: 1 s doubling to 60 s, retried without limit. */
export function revokeBackoffSeconds(attempt: number): number {
  return Math.min(60, 2 ** Math.max(0, attempt - 1));
}

export interface CredentialsResult {
  grant_id: string;
  kind: IssuedCredentials['kind'];
  expires_at: string;
  credentials: Record<string, string | number>;
}

export function createGrantService(deps: CoreDeps) {
  const { store, clock } = deps;
  /** Revocations in flight in this process, so the worker and an API call don't race. */
  const inFlight = new Map<string, Promise<Grant>>();
  /** Per-grant lock for credential issuance: the connector state merges serials. */
  const credentialLocks = new Map<string, Promise<unknown>>();

  const commit = committer(deps);


  const auditBase = (g: Grant) => ({
    subject: g.grantee,
    profile: g.profile,
    connector: g.connector,
    request_id: g.request_id,
    grant_id: g.id,
    incident: g.incident,
    ticket: g.ticket,
  });

  function contextFor(g: Grant, endsAt?: Date): ConnectorGrantContext {
    const profile = deps.profiles.get(g.profile);
    return {
      grantId: g.id,
      grantee: g.grantee,
      profile: g.profile,
      access: profile?.access ?? {},
      endsAt: endsAt ?? new Date(g.ends_at ?? clock.now().toISOString()),
      state: g.connector_state,
    };
  }

  const describeError = (e: unknown) => scrubSecrets(e instanceof Error ? e.message : String(e)).slice(0, 2000);

  /**
   * Provisions an `activating` grant at the target and starts its clock. Safe to call
   * again for a grant left `activating` by a crash. Returns the grant as it ends up.
   */
  async function activate(grantId: string): Promise<Grant> {
    const g = await store.read.getGrant(grantId);
    if (!g || g.state !== 'activating') return g!;
    const activatedAt = clock.now();
    let endsAt = addSeconds(activatedAt, g.duration_seconds);
    const shiftEnd = await shiftEndFor(g, activatedAt);
    if (shiftEnd && shiftEnd < endsAt) endsAt = shiftEnd;
    let state: Record<string, unknown>;
    try {
      state = await deps.connector(g.connector).grant(contextFor(g, endsAt));
    } catch (e) {
      const message = describeError(e);
      deps.log('error', 'grant activation failed', { grant: g.id, connector: g.connector, error: message });
      return commit(async (tx, audit) => {
        const cur = await tx.getGrant(g.id);
        if (!cur || cur.state !== 'activating') return cur!;
        await tx.updateGrant(g.id, { state: 'failed', ended_at: clock.now().toISOString(), last_error: message, end_reason: 'provisioning failed' });
        await audit({ action: 'grant.failed', actor: 'system:activator', ...auditBase(g), details: { error: message, code: e instanceof KeyshiftError ? e.code : 'INTERNAL' } });
        return (await tx.getGrant(g.id))!;
      });
    }
    const result = await commit(async (tx, audit) => {
      const cur = await tx.getGrant(g.id);
      if (!cur) return null;
      if (cur.state !== 'activating') {
        // Ended while we were provisioning (revoked, crash recovery): undo below.
        await tx.updateGrant(g.id, { connector_state: state });
        return null;
      }
      await tx.updateGrant(g.id, { state: 'active', activated_at: activatedAt.toISOString(), ends_at: endsAt.toISOString(), connector_state: state });
      await audit({
        action: 'grant.activated',
        actor: 'system:activator',
        ...auditBase(g),
        details: {
          activated_at: activatedAt.toISOString(),
          ends_at: endsAt.toISOString(),
          duration: formatDuration(g.duration_seconds),
          break_glass: g.break_glass,
          ...(endsAt.getTime() < activatedAt.getTime() + g.duration_seconds * 1000 ? { capped_by: 'shift_end' } : {}),
        },
      });
      return (await tx.getGrant(g.id))!;
    });
    if (result) return result;
    const cur = (await store.read.getGrant(g.id))!;
    if (cur.state === 'revoking') return attemptRevoke(cur.id);
    return cur;
  }

  /** For `end_on: [shift_end]`: when the grantee's on-call shift ends, if they are on call. */
  async function shiftEndFor(g: Grant, at: Date): Promise<Date | null> {
    const profile = deps.profiles.get(g.profile);
    const auto = profile?.autoApproveOnCall;
    if (!profile?.endOn.includes('shift_end') || !auto) return null;
    const check = await deps.onCall?.get(auto.source)?.check(g.grantee, auto.schedule, auto.levels, at).catch(() => null);
    return check?.onCall && check.shiftEndsAt ? check.shiftEndsAt : null;
  }

  function visibleGrant(g: Grant | null, who: Principal, id: string): Grant {
    if (!g) throw notFound('grant', id);
    if (g.grantee === who.email || who.admin) return g;
    const profile = deps.profiles.get(g.profile);
    if (profile && isEligibleApprover(profile, who)) return g;
    throw notFound('grant', id);
  }

  async function get(who: Principal, id: string): Promise<Grant> {
    return visibleGrant(await store.read.getGrant(id), who, id);
  }

  function ownActive(g: Grant, who: Principal, id: string, verb: string): Grant {
    if (g.grantee !== who.email) {
      throw new KeyshiftError('FORBIDDEN', `only the grantee can ${verb} grant ${id}`);
    }
    if (g.state !== 'active') throw conflict(`grant ${id} is ${g.state}, not active`);
    if (g.ends_at && g.ends_at <= clock.now().toISOString()) throw conflict(`grant ${id} has expired`);
    return g;
  }

  async function withCredentialLock<T>(grantId: string, fn: () => Promise<T>): Promise<T> {
    const previous = credentialLocks.get(grantId) ?? Promise.resolve();
    const run = previous.catch(() => undefined).then(fn);
    credentialLocks.set(grantId, run);
    try {
      return await run;
    } finally {
      if (credentialLocks.get(grantId) === run) credentialLocks.delete(grantId);
    }
  }

  async function recordCredentials(g: Grant, creds: IssuedCredentials, actor: string, via: string) {
    await commit(async (tx, audit) => {
      // Persist the new state even if the grant ended meanwhile: the SSH KRL reads
      // serials from it, so a certificate issued in a race is still revocable.
      await tx.updateGrant(g.id, { connector_state: creds.state });
      await audit({ action: 'grant.credentials_issued', actor, ...auditBase(g), details: { kind: creds.kind, expires_at: creds.expires_at, via, ...creds.audit } });
    });
  }

  async function issueCredentials(who: Principal, id: string, input: { publicKey?: string }): Promise<CredentialsResult> {
    return withCredentialLock(id, async () => {
      const g = ownActive(await get(who, id), who, id, 'get credentials for');
      const creds = await deps.connector(g.connector).issueCredentials(contextFor(g), input);
      await recordCredentials(g, creds, who.email, 'credentials');
      const after = await store.read.getGrant(id);
      if (!after || after.state !== 'active') {
        // Revoked while issuing: make sure what we just created is removed too.
        if (after && after.state !== 'revoking') await deps.connector(g.connector).revoke(contextFor(after), { early: true }).catch(() => undefined);
        throw conflict(`grant ${id} ended while credentials were being issued`);
      }
      return { grant_id: g.id, kind: creds.kind, expires_at: creds.expires_at, credentials: creds.secret };
    });
  }

  /**
   * Applies an approved extension (limits were checked when it was requested): moves the
   * deadline at the target first, then on the grant with `grant.extended`. The SSH
   * connector re-issues the certificate; those credentials are returned to the grantee.
   */
  async function applyExtension(id: string, bySeconds: number, actor: string, reason: string | null, requestId: string | null, deliverToGrantee: boolean): Promise<Grant & { reissued?: CredentialsResult }> {
    return withCredentialLock(id, async () => {
      const g = await store.read.getGrant(id);
      if (!g) throw notFound('grant', id);
      if (g.state !== 'active' || (g.ends_at && g.ends_at <= clock.now().toISOString())) throw conflict(`grant ${id} is no longer active; nothing was extended`);
      const profile = deps.profiles.get(g.profile);
      const problem = profile ? extensionProblem(g, profile, bySeconds, clock.now()) : `profile ${g.profile} is gone`;
      if (problem) throw policyDenied(problem);
      let newEnd = addSeconds(new Date(g.ends_at!), bySeconds);
      const shiftEnd = await shiftEndFor(g, clock.now());
      if (profile?.endOn.includes('shift_end') && shiftEnd && shiftEnd < newEnd) newEnd = shiftEnd;
      if (newEnd.toISOString() <= g.ends_at!) throw policyDenied(`grant ${id} already ends with the grantee's on-call shift; nothing to extend`);
      const extended = await deps.connector(g.connector).extend(contextFor(g, newEnd));
      // Re-issued credentials are kept only when they go straight back to the grantee;
      // otherwise nobody receives them and the grantee asks for fresh ones (`keyshift creds`).
      const result = deliverToGrantee ? extended : { state: extended.state };
      const updated = await commit(async (tx, audit) => {
        const cur = await tx.getGrant(id);
        if (!cur || cur.state !== 'active' || cur.ends_at !== g.ends_at || cur.ends_at! <= clock.now().toISOString()) return null;
        await tx.updateGrant(id, { ends_at: newEnd.toISOString(), extensions: cur.extensions + 1, connector_state: result.credentials?.state ?? result.state });
        // Marks the extension request applied (it no longer counts as in flight).
        if (requestId) await tx.updateRequest(requestId, { grant_id: id });
        await audit({
          action: 'grant.extended',
          actor,
          ...auditBase(g),
          reason,
          details: {
            by: formatDuration(bySeconds),
            previous_ends_at: g.ends_at,
            ends_at: newEnd.toISOString(),
            extension: cur.extensions + 1,
            extension_request: requestId,
            ...(newEnd.getTime() < Date.parse(g.ends_at!) + bySeconds * 1000 ? { capped_by: 'shift_end' } : {}),
          },
        });
        if (result.credentials) {
          await audit({ action: 'grant.credentials_issued', actor: g.grantee, ...auditBase(g), details: { kind: result.credentials.kind, expires_at: result.credentials.expires_at, via: 'extend', ...result.credentials.audit } });
        }
        return (await tx.getGrant(id))!;
      });
      if (!updated) throw conflict(`grant ${id} changed while it was being extended (expired or ended); nothing was extended`);
      const c = result.credentials;
      return c ? { ...updated, reissued: { grant_id: id, kind: c.kind, expires_at: c.expires_at, credentials: c.secret } } : updated;
    });
  }

  /** An approver (not the grantee) acknowledges a break-glass grant: `break_glass.reviewed`. */
  async function review(who: Principal, id: string, comment: string | null): Promise<Grant> {
    const g = await get(who, id);
    const profile = deps.profiles.get(g.profile);
    if (g.grantee === who.email) throw policyDenied(`you cannot review your own break-glass use (${id})`);
    if (!who.admin && !(profile && isEligibleApprover(profile, who))) throw notFound('grant', id);
    if (!g.break_glass) throw conflict(`grant ${id} was not a break-glass grant`);
    return commit(async (tx, audit) => {
      const cur = (await tx.getGrant(id))!;
      if (cur.reviewed_at) throw conflict(`grant ${id} was reviewed by ${cur.reviewed_by} at ${cur.reviewed_at}`);
      const now = clock.now().toISOString();
      await tx.updateGrant(id, { reviewed_at: now, reviewed_by: who.email, review_comment: comment });
      await audit({ action: 'break_glass.reviewed', actor: who.email, ...auditBase(cur), reason: comment, details: { review_due_at: cur.review_due_at, overdue: cur.review_due_at !== null && cur.review_due_at < now } });
      return (await tx.getGrant(id))!;
    });
  }

  /** Open break-glass review items the caller may acknowledge (admins: all). */
  async function reviews(who: Principal): Promise<Grant[]> {
    const open = await store.read.listGrants({ unreviewedBreakGlass: true });
    return open.filter((g) => g.grantee !== who.email && (who.admin || (deps.profiles.get(g.profile) !== undefined && isEligibleApprover(deps.profiles.get(g.profile)!, who))));
  }

  /**
   * Ends live grants whose incident resolved or ticket closed, where their profile asks
   * for it (`end_on`). Called by the incident/ticket sources; returns the grants ended.
   */
  async function endFor(what: { incident?: string; ticket?: string }, actor: string): Promise<Grant[]> {
    const condition = what.incident ? 'incident_resolved' : 'ticket_closed';
    const live = await store.read.listGrants({ states: ['active', 'activating'], incident: what.incident, ticket: what.ticket });
    const ended: Grant[] = [];
    for (const g of live) {
      if (!deps.profiles.get(g.profile)?.endOn.includes(condition)) continue;
      const reason = what.incident ? `incident ${what.incident} resolved` : `ticket ${what.ticket} closed`;
      ended.push(await end(g.id, 'revoked', actor, reason).catch(async () => (await store.read.getGrant(g.id))!));
    }
    return ended;
  }

  /**
   * Claims a live grant for ending (active/activating → revoking) and removes it at the
   * target. Exactly one caller wins the claim; the rest get CONFLICT.
   */
  async function end(id: string, ending: GrantEnding, actor: string, reason: string | null): Promise<Grant> {
    await commit(async (tx, audit) => {
      const cur = await tx.getGrant(id);
      if (!cur) throw notFound('grant', id);
      if (cur.state !== 'active' && cur.state !== 'activating') {
        throw conflict(`grant ${id} is ${cur.state}${cur.state === 'revoking' ? ` (being ${cur.ending})` : ''}`);
      }
      await tx.updateGrant(id, { state: 'revoking', ending, ended_by: actor, end_reason: reason, revoke_attempts: 0, next_attempt_at: clock.now().toISOString() });
      await cancelPendingExtensions(tx, audit, cur, `grant ${id} ${ending === 'expired' ? 'expired' : `was ${ending}`}`);
    });
    return attemptRevoke(id);
  }

  async function release(who: Principal, id: string): Promise<Grant> {
    const g = await get(who, id);
    if (g.grantee !== who.email) throw new KeyshiftError('FORBIDDEN', `only the grantee can release grant ${id}; use revoke`);
    return end(id, 'released', who.email, 'released by the grantee');
  }

  async function revoke(who: Principal, id: string, reason: string): Promise<Grant> {
    const g = await get(who, id);
    const profile = deps.profiles.get(g.profile);
    const mayRevoke = who.admin || (profile !== undefined && isEligibleApprover(profile, who));
    if (!mayRevoke) {
      if (g.grantee === who.email) throw new KeyshiftError('FORBIDDEN', `revoke is for approvers and admins; use release to end your own grant ${id}`);
      throw notFound('grant', id);
    }
    return end(id, 'revoked', who.email, reason);
  }

  /**
   * One removal attempt for a `revoking` grant. On success the grant reaches its ending
   * state; on failure it stays `revoking` with a backoff, retried without limit by the
   * expiry worker. Concurrent calls for one grant share one attempt.
   */
  function attemptRevoke(id: string): Promise<Grant> {
    const running = inFlight.get(id);
    if (running) return running;
    return revokeMany([id], 1).then(async (done) => done.find((g) => g.id === id) ?? (await store.read.getGrant(id))!);
  }

  /**
   * Removes many `revoking` grants at once (the expiry worker's path when a thousand
   * grants end in the same second): connector calls in parallel, then the outcomes
   * recorded in a few batch transactions instead of one transaction each, so the
   * serialized write path is not the bottleneck. `attemptRevoke` is this with one grant.
   */
  async function revokeMany(ids: string[], concurrency = 32): Promise<Grant[]> {
    const mine = ids.filter((id) => !inFlight.has(id));
    if (mine.length === 0) return [];
    let release!: (gs: Map<string, Grant>) => void;
    const done = new Promise<Map<string, Grant>>((r) => (release = r));
    for (const id of mine) {
      const p = done.then(async (m) => m.get(id) ?? (await store.read.getGrant(id))!);
      inFlight.set(id, p);
      p.finally(() => inFlight.delete(id)).catch(() => undefined);
    }
    const results = new Map<string, Grant>();
    try {
      const grants = (await store.read.listGrants({ ids: mine, states: ['revoking'], limit: mine.length }));
      const outcomes: Array<{ g: Grant; state?: Record<string, unknown>; error?: string }> = [];
      let next = 0;
      await Promise.all(
        Array.from({ length: Math.min(concurrency, grants.length) }, async () => {
          while (next < grants.length) {
            const g = grants[next++]!;
            try {
              outcomes.push({ g, state: await deps.connector(g.connector).revoke(contextFor(g), { early: (g.ending ?? 'revoked') !== 'expired' }) });
            } catch (e) {
              outcomes.push({ g, error: describeError(e) });
            }
          }
        }),
      );
      for (let i = 0; i < outcomes.length; i += 250) {
        const chunk = outcomes.slice(i, i + 250);
        const events = await store.transaction(async (tx) => {
          const now = clock.now();
          const current = new Map((await tx.listGrants({ ids: chunk.map((o) => o.g.id), limit: chunk.length })).map((g) => [g.id, g]));
          const inputs: AuditInput[] = [];
          for (const o of chunk) {
            const cur = current.get(o.g.id);
            if (!cur || cur.state !== 'revoking') {
              if (cur) results.set(cur.id, cur);
              continue;
            }
            const ending = cur.ending ?? 'revoked';
            if (o.state) {
              const patch = { state: ending, ended_at: now.toISOString(), connector_state: o.state, next_attempt_at: null, last_error: null } as const;
              await tx.updateGrant(cur.id, patch);
              results.set(cur.id, { ...cur, ...patch });
              const lagMs = ending === 'expired' && cur.ends_at ? now.getTime() - Date.parse(cur.ends_at) : undefined;
              inputs.push({
                action: `grant.${ending}`,
                actor: ending === 'expired' ? 'system:expiry' : (cur.ended_by ?? 'system'),
                ...auditBase(cur),
                reason: cur.end_reason,
                details: { ends_at: cur.ends_at, attempts: cur.revoke_attempts + 1, ...(lagMs !== undefined ? { lag_ms: lagMs } : {}) },
              });
            } else {
              const attempts = cur.revoke_attempts + 1;
              const patch = { revoke_attempts: attempts, last_error: o.error ?? 'unknown error', next_attempt_at: addSeconds(now, revokeBackoffSeconds(attempts)).toISOString() };
              await tx.updateGrant(cur.id, patch);
              results.set(cur.id, { ...cur, ...patch });
              deps.log('warn', 'revocation failed; will retry', { grant: cur.id, connector: cur.connector, attempt: attempts, error: o.error });
              if (attempts === 1) inputs.push({ action: 'grant.revoke_failed', actor: 'system:revoker', ...auditBase(cur), details: { ending, error: o.error, retrying: true } });
            }
          }
          return appendAuditBatch(tx, inputs, now);
        });
        if (events.length) deps.afterCommit(events);
      }
    } finally {
      release(results);
    }
    return [...results.values()];
  }

  /** A pending extension of a grant that is ending can never apply: cancel it with the grant. */
  async function cancelPendingExtensions(tx: StoreTx, audit: AppendAudit, g: Grant, why: string, candidates?: AccessRequest[]): Promise<void> {
    const pending = (candidates ?? (await tx.listRequests({ requester: g.grantee, profiles: [g.profile], states: ['pending'] }))).filter((r) => r.extends_grant_id === g.id);
    for (const r of pending) {
      await tx.updateRequest(r.id, { state: 'cancelled', decided_at: clock.now().toISOString(), decided_by: 'system:policy', decision_reasons: [why] });
      await audit({ action: 'request.cancelled', actor: 'system:policy', subject: g.grantee, profile: g.profile, connector: g.connector, request_id: r.id, grant_id: g.id, incident: r.incident, ticket: r.ticket, reason: why });
    }
  }

  /** Claims every grant past its deadline (one transaction) and returns their IDs. */
  async function claimExpired(limit = 5000): Promise<string[]> {
    const nowIso = clock.now().toISOString();
    return commit(async (tx, audit) => {
      const due = await tx.listGrants({ states: ['active'], endsBy: nowIso, limit });
      // One read of pending extension requests for the whole batch, not one per grant.
      const pendingExtensions = due.length ? (await tx.listRequests({ states: ['pending'], limit: 100_000 })).filter((r) => r.kind === 'extension') : [];
      for (const g of due) {
        await tx.updateGrant(g.id, { state: 'revoking', ending: 'expired', ended_by: 'system:expiry', end_reason: 'deadline reached', revoke_attempts: 0, next_attempt_at: nowIso });
        await cancelPendingExtensions(tx, audit, g, `grant ${g.id} expired`, pendingExtensions);
      }
      return due.map((g) => g.id);
    });
  }

  async function dueRetries(): Promise<string[]> {
    const nowIso = clock.now().toISOString();
    const revoking = await store.read.listGrants({ states: ['revoking'], nextAttemptBy: nowIso, limit: 5000 });
    return revoking.filter((g) => !inFlight.has(g.id)).map((g) => g.id);
  }

  async function list(who: Principal, f: { all?: boolean; state?: Grant['state'][]; user?: string }): Promise<Grant[]> {
    if (f.all || f.user) {
      if (!who.admin) throw new KeyshiftError('FORBIDDEN', 'listing other users\' grants is for admins');
      return store.read.listGrants({ states: f.state, grantee: f.user });
    }
    return store.read.listGrants({ states: f.state, grantee: who.email });
  }

  /** Serials etc. of grants that ended early and may still hold valid certificates. */
  async function revocationStates(connector: string): Promise<Array<Record<string, unknown>>> {
    const grants = await store.read.listGrants({ connector, states: ['revoked', 'released', 'revoking', 'failed'], endsAfter: clock.now().toISOString(), limit: 100000 });
    return grants.map((g) => g.connector_state);
  }

  return { activate, get, shiftEndFor, issueCredentials, applyExtension, review, reviews, endFor, end, release, revoke, attemptRevoke, revokeMany, claimExpired, dueRetries, list, revocationStates };
}

export type GrantService = ReturnType<typeof createGrantService>;
