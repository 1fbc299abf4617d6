/**
 * Requests: creation (with the policy decision), approval, denial, cancellation and TTL
 * expiry. Every decision happens inside one serialized transaction that re-reads the
 * request, so an approval racing another approval, a cancel or the TTL has exactly one
 * outcome. Activation at the target follows after commit (GrantService.activate).
 */
import type { CoreDeps } from './deps.ts';
import type { AccessRequest, AuditEvent, AuditInput, Grant, Principal } from './model.ts';
import type { StoreTx } from './ports.ts';
import type { Profile } from './profile.ts';
import type { GrantService } from './grant-service.ts';
import { appendAudit } from './audit-log.ts';
import { KeyshiftError, conflict, invalidInput, notFound, policyDenied } from './errors.ts';
import { addSeconds } from './clock.ts';
import { newId } from './ids.ts';
import { formatDuration } from './duration.ts';
import { decideRequest, describeRule, isEligibleApprover, tallyApprovals } from './policy-engine.ts';

export interface NewRequestInput {
  profile: string;
  durationSeconds: number | null;
  reason: string | null;
  ticket: string | null;
  incident: string | null;
  breakGlass: boolean;
}

export interface RequestOutcome {
  request: AccessRequest;
  grant: Grant | null;
}

const MAX_REASON = 2000;
const REFERENCE = /^[A-Za-z0-9][A-Za-z0-9_.:#/-]{0,99}$/;

export function createRequestService(deps: CoreDeps, grants: GrantService) {
  const { store, clock } = deps;

  async function commit<T>(fn: (tx: StoreTx, audit: (input: AuditInput) => Promise<AuditEvent>) => Promise<T>): Promise<T> {
    const events: AuditEvent[] = [];
    const result = await store.transaction((tx) =>
      fn(tx, async (input) => {
        const e = await appendAudit(tx, input, clock.now());
        events.push(e);
        return e;
      }),
    );
    if (events.length) deps.afterCommit(events);
    return result;
  }

  const base = (r: AccessRequest, profile?: Profile) => ({
    subject: r.requester,
    profile: r.profile,
    connector: profile?.connector ?? deps.profiles.get(r.profile)?.connector ?? null,
    request_id: r.id,
    incident: r.incident,
    ticket: r.ticket,
  });

  function profileOrThrow(name: string): Profile {
    const p = deps.profiles.get(name);
    if (!p) throw notFound('profile', name);
    return p;
  }

  function validateText(input: NewRequestInput): void {
    if (input.reason !== null && input.reason.length > MAX_REASON) throw invalidInput(`reason is ${input.reason.length} characters; at most ${MAX_REASON}`);
    if (input.reason !== null && input.reason.trim() === '') throw invalidInput('reason is empty');
    for (const [field, value] of [['ticket', input.ticket], ['incident', input.incident]] as const) {
      if (value !== null && !REFERENCE.test(value)) throw invalidInput(`${field} ${JSON.stringify(value.slice(0, 120))} is not a ticket/incident reference (letters, digits, - _ . : # /; up to 100)`);
    }
  }

  /** Inserts the grant row for an approved request, inside the deciding transaction. */
  async function createGrantRow(tx: StoreTx, r: AccessRequest, profile: Profile, audit: (i: AuditInput) => Promise<AuditEvent>): Promise<string> {
    const now = clock.now();
    const grant: Grant = {
      id: newId('grt', now.getTime()),
      request_id: r.id,
      profile: r.profile,
      connector: profile.connector,
      grantee: r.requester,
      state: 'activating',
      ending: null,
      duration_seconds: r.duration_seconds,
      created_at: now.toISOString(),
      activated_at: null,
      ends_at: null,
      ended_at: null,
      end_reason: null,
      ended_by: null,
      extensions: 0,
      incident: r.incident,
      ticket: r.ticket,
      break_glass: r.break_glass,
      review_due_at: r.break_glass ? addSeconds(now, profile.breakGlass.reviewWithinSeconds).toISOString() : null,
      reviewed_at: null,
      reviewed_by: null,
      revoke_attempts: 0,
      next_attempt_at: null,
      last_error: null,
      connector_state: {},
    };
    await tx.insertGrant(grant);
    await tx.updateRequest(r.id, { grant_id: grant.id });
    if (r.break_glass) {
      await audit({ action: 'break_glass.activated', actor: r.requester, ...base(r, profile), grant_id: grant.id, reason: r.reason, details: { review_due_at: grant.review_due_at } });
    }
    return grant.id;
  }

  async function finish(requestId: string, grantId: string | null): Promise<RequestOutcome> {
    const grant = grantId ? await grants.activate(grantId) : null;
    return { request: (await store.read.getRequest(requestId))!, grant };
  }

  async function create(who: Principal, input: NewRequestInput): Promise<RequestOutcome> {
    const profile = profileOrThrow(input.profile);
    validateText(input);
    const durationSeconds = input.durationSeconds ?? profile.defaultSeconds;
    const source = profile.autoApproveOnCall ? deps.onCall?.get(profile.autoApproveOnCall.source) : undefined;
    let onCall: { onCall: boolean; detail: string } | null = null;
    if (profile.autoApproveOnCall && !input.breakGlass) {
      onCall = source
        ? await source.isOnCall(who.email, profile.autoApproveOnCall.schedule, clock.now()).catch((e: unknown) => ({ onCall: false, detail: `on-call check failed (${e instanceof Error ? e.message : String(e)}); falling back to approval` }))
        : { onCall: false, detail: `on-call source ${profile.autoApproveOnCall.source} is not configured` };
    }
    const decision = decideRequest(profile, who, { durationSeconds, reason: input.reason, ticket: input.ticket, incident: input.incident, breakGlass: input.breakGlass }, onCall);
    if (decision.outcome === 'denied') throw policyDenied(decision.reasons.join('; '), decision.reasons);

    const { requestId, grantId } = await commit(async (tx, audit) => {
      const live = await tx.listGrants({ grantee: who.email, profile: profile.name, states: ['activating', 'active'] });
      if (live[0]) {
        throw conflict(`you already hold ${live[0].id} for ${profile.name}${live[0].ends_at ? ` until ${live[0].ends_at}` : ''}; use keyshift extend ${live[0].id}`);
      }
      const pending = await tx.listRequests({ requester: who.email, profiles: [profile.name], states: ['pending'] });
      if (pending[0] && !input.breakGlass) throw conflict(`request ${pending[0].id} for ${profile.name} is already pending`);

      const now = clock.now();
      const approved = decision.outcome !== 'needs_approval';
      const r: AccessRequest = {
        id: newId('req', now.getTime()),
        profile: profile.name,
        requester: who.email,
        duration_seconds: durationSeconds,
        reason: input.reason,
        ticket: input.ticket,
        incident: input.incident,
        break_glass: input.breakGlass,
        state: approved ? 'approved' : 'pending',
        created_at: now.toISOString(),
        expires_at: addSeconds(now, profile.requestTtlSeconds).toISOString(),
        decided_at: approved ? now.toISOString() : null,
        decided_by: approved ? (input.breakGlass ? who.email : 'system:policy') : null,
        decision_comment: null,
        decision_reasons: decision.reasons,
        grant_id: null,
        approvals: [],
      };
      await tx.insertRequest(r);
      await audit({ action: 'request.created', actor: who.email, ...base(r, profile), reason: r.reason, details: { duration: formatDuration(durationSeconds), break_glass: r.break_glass, outcome: decision.outcome, reasons: decision.reasons } });
      if (!approved) return { requestId: r.id, grantId: null };
      await audit({ action: 'request.approved', actor: r.decided_by!, ...base(r, profile), reason: r.reason, details: { automatic: true, reasons: decision.reasons } });
      return { requestId: r.id, grantId: await createGrantRow(tx, r, profile, audit) };
    });
    return finish(requestId, grantId);
  }

  function visible(r: AccessRequest | null, who: Principal, id: string): AccessRequest {
    if (!r) throw notFound('request', id);
    if (r.requester === who.email || who.admin) return r;
    const profile = deps.profiles.get(r.profile);
    if (profile && isEligibleApprover(profile, who)) return r;
    throw notFound('request', id);
  }

  async function get(who: Principal, id: string): Promise<AccessRequest> {
    return visible(await store.read.getRequest(id), who, id);
  }

  /** Marks a pending request past its TTL as expired (inside the caller's transaction). */
  async function expireIfDue(tx: StoreTx, r: AccessRequest, audit: (i: AuditInput) => Promise<AuditEvent>): Promise<boolean> {
    if (r.state !== 'pending' || r.expires_at > clock.now().toISOString()) return false;
    await tx.updateRequest(r.id, { state: 'expired', decided_at: clock.now().toISOString(), decided_by: 'system:expiry', decision_reasons: [`no decision within the request TTL (expired at ${r.expires_at})`] });
    await audit({ action: 'request.expired', actor: 'system:expiry', ...base(r), details: { expires_at: r.expires_at } });
    return true;
  }

  async function approve(who: Principal, id: string, comment: string | null): Promise<RequestOutcome> {
    if (comment !== null && comment.length > MAX_REASON) throw invalidInput(`comment is ${comment.length} characters; at most ${MAX_REASON}`);
    let late: KeyshiftError | null = null;
    const grantId = await commit(async (tx, audit) => {
      const r = visible(await tx.getRequest(id), who, id);
      if (r.requester === who.email) throw policyDenied(`you cannot approve your own request ${id}`);
      if (await expireIfDue(tx, r, audit)) {
        late = conflict(`request ${id} expired at ${r.expires_at}`);
        return null;
      }
      if (r.state !== 'pending') throw conflict(`request ${id} is ${r.state}`);
      const profile = profileOrThrow(r.profile);
      if (!isEligibleApprover(profile, who)) {
        throw policyDenied(`you are not an approver for ${r.profile} (${profile.approvalRules.map(describeRule).join('; ')})`);
      }
      if (r.approvals.some((a) => a.approver === who.email)) throw conflict(`you have already approved request ${id}`);

      const approvers = [...r.approvals.map((a) => ({ email: a.approver, groups: deps.directory.lookup(a.approver)?.groups ?? [] })), { email: who.email, groups: who.groups }];
      const tally = tallyApprovals(profile.approvalRules, approvers, r.requester);
      const now = clock.now().toISOString();
      await tx.insertApproval(id, { approver: who.email, comment, rule: tally.assignment.get(who.email) ?? null, automatic: false, created_at: now });
      const counted = tally.rules.map((s) => `${describeRule(s, s.index)}: ${s.counted.length ? s.counted.join(', ') : 'nobody yet'}${s.met ? ' ✓' : ''}`);
      if (!tally.satisfied) {
        await audit({ action: 'request.approval_added', actor: who.email, ...base(r, profile), reason: comment, details: { rule: tally.assignment.get(who.email) ?? null, rules: counted } });
        return null;
      }
      const reasons = ['all approval rules met', ...counted];
      await tx.updateRequest(id, { state: 'approved', decided_at: now, decided_by: who.email, decision_comment: comment, decision_reasons: reasons });
      await audit({ action: 'request.approved', actor: who.email, ...base(r, profile), reason: comment, details: { automatic: false, reasons } });
      return createGrantRow(tx, { ...r, state: 'approved' }, profile, audit);
    });
    if (late) throw late;
    return finish(id, grantId);
  }

  async function deny(who: Principal, id: string, comment: string | null): Promise<RequestOutcome> {
    if (comment !== null && comment.length > MAX_REASON) throw invalidInput(`comment is ${comment.length} characters; at most ${MAX_REASON}`);
    let late: KeyshiftError | null = null;
    await commit(async (tx, audit) => {
      const r = visible(await tx.getRequest(id), who, id);
      if (r.requester === who.email) throw policyDenied(`you cannot decide your own request ${id}; use cancel`);
      if (await expireIfDue(tx, r, audit)) {
        late = conflict(`request ${id} expired at ${r.expires_at}`);
        return;
      }
      if (r.state !== 'pending') throw conflict(`request ${id} is ${r.state}`);
      const profile = profileOrThrow(r.profile);
      if (!isEligibleApprover(profile, who)) throw policyDenied(`you are not an approver for ${r.profile}`);
      const now = clock.now().toISOString();
      const reasons = [`denied by ${who.email}${comment ? `: ${comment}` : ''}`];
      await tx.updateRequest(id, { state: 'denied', decided_at: now, decided_by: who.email, decision_comment: comment, decision_reasons: reasons });
      await audit({ action: 'request.denied', actor: who.email, ...base(r, profile), reason: comment, details: { reasons } });
    });
    if (late) throw late;
    return { request: (await store.read.getRequest(id))!, grant: null };
  }

  async function cancel(who: Principal, id: string): Promise<RequestOutcome> {
    await commit(async (tx, audit) => {
      const r = visible(await tx.getRequest(id), who, id);
      if (r.requester !== who.email) throw new KeyshiftError('FORBIDDEN', `only the requester can cancel request ${id}; approvers deny`);
      if (await expireIfDue(tx, r, audit)) return;
      if (r.state !== 'pending') throw conflict(`request ${id} is ${r.state}`);
      await tx.updateRequest(id, { state: 'cancelled', decided_at: clock.now().toISOString(), decided_by: who.email, decision_reasons: ['cancelled by the requester'] });
      await audit({ action: 'request.cancelled', actor: who.email, ...base(r) });
    });
    const r = (await store.read.getRequest(id))!;
    if (r.state === 'expired') throw conflict(`request ${id} expired at ${r.expires_at}`);
    return { request: r, grant: null };
  }

  /** Expires every pending request past its TTL. Returns how many. */
  async function expireStale(): Promise<number> {
    const nowIso = clock.now().toISOString();
    const due = (await store.read.listRequests({ states: ['pending'], limit: 1000 })).filter((r) => r.expires_at <= nowIso);
    let n = 0;
    for (const r of due) {
      await commit(async (tx, audit) => {
        const cur = await tx.getRequest(r.id);
        if (cur && (await expireIfDue(tx, cur, audit))) n++;
      });
    }
    return n;
  }

  async function list(who: Principal, f: { state?: AccessRequest['state'][]; mine?: boolean; toReview?: boolean }): Promise<AccessRequest[]> {
    if (f.toReview) {
      const reviewable = [...deps.profiles.values()].filter((p) => isEligibleApprover(p, who)).map((p) => p.name);
      const rows = await store.read.listRequests({ states: f.state ?? ['pending'], profiles: reviewable });
      return rows.filter((r) => r.requester !== who.email && !r.approvals.some((a) => a.approver === who.email));
    }
    if (f.mine || !who.admin) {
      const mine = await store.read.listRequests({ states: f.state, requester: who.email });
      if (f.mine) return mine;
      const reviewable = [...deps.profiles.values()].filter((p) => isEligibleApprover(p, who)).map((p) => p.name);
      const others = reviewable.length ? await store.read.listRequests({ states: f.state, profiles: reviewable }) : [];
      const byId = new Map([...mine, ...others].map((r) => [r.id, r]));
      return [...byId.values()].sort((a, b) => (a.id < b.id ? 1 : -1));
    }
    return store.read.listRequests({ states: f.state });
  }

  return { create, get, approve, deny, cancel, expireStale, list };
}

export type RequestService = ReturnType<typeof createRequestService>;
