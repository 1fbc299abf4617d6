/**
 * Pre-approval windows: an approver approves a user for a profile ahead of time (e.g. for
 * their on-call week). A request inside the window counts the pre-approval as that
 * approver's approval, so multi-rule profiles still need every rule covered, and nobody
 * can pre-approve themselves.
 */
import type { CoreDeps } from './deps.ts';
import type { AuditEvent, PreApproval, Principal } from './model.ts';
import { appendAudit } from './audit-log.ts';
import { KeyshiftError, conflict, invalidInput, notFound, policyDenied } from './errors.ts';
import { isEligibleApprover } from './policy-engine.ts';
import { matchesAny } from './profile.ts';
import { newId } from './ids.ts';
import { formatDuration } from './duration.ts';

/** Longer standing approvals defeat the point of just-in-time access. */
export const MAX_PREAPPROVAL_SECONDS = 31 * 86400;

export function createPreApprovalService(deps: CoreDeps) {
  async function create(who: Principal, input: { profile: string; user: string; startsAt: Date | null; endsAt: Date; reason: string | null }): Promise<PreApproval> {
    const profile = deps.profiles.get(input.profile);
    if (!profile) throw notFound('profile', input.profile);
    if (!isEligibleApprover(profile, who)) throw policyDenied(`you are not an approver for ${profile.name}, so you cannot pre-approve it`);
    const user = deps.directory.lookup(input.user);
    if (!user) throw invalidInput(`user ${JSON.stringify(input.user)} is not in the directory`);
    if (user.email.toLowerCase() === who.email.toLowerCase()) throw policyDenied('you cannot pre-approve yourself');
    if (!matchesAny(profile.requesters, user)) throw policyDenied(`${user.email} is not among the requesters of ${profile.name}`);
    const now = deps.clock.now();
    const start = input.startsAt ?? now;
    if (input.endsAt <= start) throw invalidInput('the window must end after it starts');
    if (input.endsAt <= now) throw invalidInput('the window is already over');
    const length = (input.endsAt.getTime() - start.getTime()) / 1000;
    if (length > MAX_PREAPPROVAL_SECONDS) throw policyDenied(`a pre-approval window is at most ${formatDuration(MAX_PREAPPROVAL_SECONDS)} (asked for ${formatDuration(length)})`);
    if (input.reason !== null && input.reason.length > 2000) throw invalidInput('reason is longer than 2000 characters');
    const p: PreApproval = {
      id: newId('pre', now.getTime()),
      profile: profile.name,
      user: user.email,
      starts_at: start.toISOString(),
      ends_at: input.endsAt.toISOString(),
      created_by: who.email,
      created_at: now.toISOString(),
      reason: input.reason,
      revoked_at: null,
      revoked_by: null,
    };
    const events: AuditEvent[] = [];
    await deps.store.transaction(async (tx) => {
      await tx.insertPreApproval(p);
      events.push(await appendAudit(tx, { action: 'preapproval.created', actor: who.email, subject: user.email, profile: profile.name, connector: profile.connector, reason: input.reason, details: { preapproval_id: p.id, starts_at: p.starts_at, ends_at: p.ends_at } }, now));
    });
    deps.afterCommit(events);
    return p;
  }

  async function revoke(who: Principal, id: string): Promise<PreApproval> {
    const p = await deps.store.read.getPreApproval(id);
    if (!p || (p.created_by !== who.email && p.user !== who.email && !who.admin)) throw notFound('pre-approval', id);
    if (p.created_by !== who.email && !who.admin) throw new KeyshiftError('FORBIDDEN', 'only its author or an admin can revoke a pre-approval');
    if (p.revoked_at) throw conflict(`pre-approval ${id} was revoked at ${p.revoked_at}`);
    const events: AuditEvent[] = [];
    const now = deps.clock.now();
    await deps.store.transaction(async (tx) => {
      await tx.revokePreApproval(id, now.toISOString(), who.email);
      events.push(await appendAudit(tx, { action: 'preapproval.revoked', actor: who.email, subject: p.user, profile: p.profile, details: { preapproval_id: id } }, now));
    });
    deps.afterCommit(events);
    return (await deps.store.read.getPreApproval(id))!;
  }

  async function list(who: Principal): Promise<PreApproval[]> {
    const all = await deps.store.read.listPreApprovals({ includeRevoked: true });
    return who.admin ? all : all.filter((p) => p.created_by === who.email || p.user === who.email);
  }

  return { create, revoke, list };
}

export type PreApprovalService = ReturnType<typeof createPreApprovalService>;
