/**
 * Requests: creation (with the policy decision), approval, denial, cancellation and TTL
 * expiry. Every decision happens inside one serialized transaction that re-reads the
 * request, so an approval racing another approval, a cancel or the TTL has exactly one
 * outcome. Activation at the target follows after commit (GrantService.activate).
 */
import type { CoreDeps } from './deps.ts';
import type { AccessRequest, AuditEvent, AuditInput, Grant, Principal } from './model.ts';
import type { IncidentSource, StoreTx, TicketSource } from './ports.ts';
import type { Profile } from './profile.ts';
import type { CredentialsResult, GrantService } from './grant-service.ts';
import { committer } from './commit.ts';
import { KeyshiftError, conflict, invalidInput, notFound, policyDenied, scrubSecrets } from './errors.ts';
import { addSeconds } from './clock.ts';
import { newId } from './ids.ts';
import { formatDuration } from './duration.ts';
import { decideRequest, describeRule, eligibleApprovers, isEligibleApprover, tallyApprovals } from './policy-engine.ts';
import type { Decision, PolicyFacts } from './policy-engine.ts';
import { extensionProblem } from './extension-limits.ts';
import type { ExtensionsInFlight } from './extension-limits.ts';
import { matchesAny } from './profile.ts';

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
  /** Credentials re-issued by an extension, only ever for the grantee's own call. */
  credentials?: CredentialsResult | null;
}

const MAX_REASON = 2000;
const REFERENCE = /^[A-Za-z0-9][A-Za-z0-9_.:#/-]{0,99}$/;

export function createRequestService(deps: CoreDeps, grants: GrantService) {
  const { store, clock } = deps;

  const commit = committer(deps);


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
      review_comment: null,
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

  /**
   * After the deciding commit: activate the new grant, or apply an approved extension.
   * `caller` matters for extensions: re-issued credentials (a new SSH certificate) go
   * only to the grantee's own call, never to the approver whose approval applied them.
   */
  async function finish(requestId: string, grantId: string | null, caller: string): Promise<RequestOutcome> {
    const r = (await store.read.getRequest(requestId))!;
    if (r.kind === 'extension' && r.state === 'approved' && r.extends_grant_id) {
      const forGrantee = caller === r.requester;
      const applied = await grants.applyExtension(r.extends_grant_id, r.duration_seconds, r.decided_by ?? r.requester, r.reason, r.id, forGrantee).catch(async (e: unknown) => {
        // The approval stands, but nothing was extended: say so on the request, and mark
        // it settled (grant_id) so it stops counting against the extension limits.
        const why = scrubSecrets(e instanceof Error ? e.message : String(e)).slice(0, 500);
        deps.log('warn', 'approved extension could not be applied', { request: r.id, error: why });
        await store.transaction(async (tx) => {
          const cur = await tx.getRequest(r.id);
          if (cur && cur.grant_id === null) await tx.updateRequest(r.id, { grant_id: r.extends_grant_id, decision_reasons: [...cur.decision_reasons, `approved, but not applied: ${why}`] });
        });
        return store.read.getGrant(r.extends_grant_id!);
      });
      if (!applied) return { request: (await store.read.getRequest(requestId))!, grant: null, credentials: null };
      const { reissued, ...grant } = applied as Grant & { reissued?: CredentialsResult };
      return { request: (await store.read.getRequest(requestId))!, grant, credentials: forGrantee ? (reissued ?? null) : null };
    }
    const grant = grantId ? await grants.activate(grantId) : null;
    return { request: r, grant };
  }

  /** Looks up what the policy needs from outside (on-call, pre-approvals, ticket, incident). */
  async function gatherFacts(profile: Profile, who: { email: string }, input: { ticket: string | null; incident: string | null; breakGlass: boolean }): Promise<PolicyFacts> {
    const now = clock.now();
    let onCall: PolicyFacts['onCall'] = null;
    const auto = profile.autoApproveOnCall;
    if (auto && !input.breakGlass) {
      const source = deps.onCall?.get(auto.source);
      onCall = source
        ? await source.check(who.email, auto.schedule, auto.levels, now).catch((e: unknown) => ({ onCall: false, detail: `on-call check failed (${e instanceof Error ? e.message : String(e)}); approval is needed`, shiftEndsAt: null }))
        : { onCall: false, detail: `on-call source ${auto.source} is not configured; approval is needed` };
      onCall = { ...onCall, checkedAt: now.toISOString() };
    }
    const pre = await store.read.listPreApprovals({ user: who.email, profile: profile.name, activeAt: now.toISOString() });
    const preApprovals = pre
      .map((p) => ({ p, approver: deps.directory.lookup(p.created_by) }))
      .filter((x) => x.approver !== null)
      .map(({ p, approver }) => ({ approver: { email: approver!.email, groups: approver!.groups }, until: p.ends_at, id: p.id }));
    const lookup = async (value: string | null, source: TicketSource | IncidentSource | undefined) => {
      if (!value || !source) return null;
      try {
        return await source.check(value);
      } catch (e) {
        throw new KeyshiftError('CONNECTOR_UNAVAILABLE', `could not check ${value}: ${e instanceof Error ? e.message : String(e)}`, { retryable: true });
      }
    };
    return { onCall, preApprovals, ticket: await lookup(input.ticket, deps.tickets), incident: await lookup(input.incident, deps.incidents) };
  }

  /** Extension limits of a live grant; throws POLICY_DENIED naming the limit. */
  function checkExtensionLimits(g: Grant, profile: Profile, bySeconds: number, inFlight?: ExtensionsInFlight): void {
    const problem = extensionProblem(g, profile, bySeconds, clock.now(), inFlight);
    if (problem) throw policyDenied(problem);
  }

  /** Approved extensions of a grant that were not applied yet (applied ones carry grant_id). */
  async function extensionsInFlight(tx: StoreTx, g: Grant): Promise<ExtensionsInFlight> {
    const approved = (await tx.listRequests({ requester: g.grantee, profiles: [g.profile], states: ['approved'] })).filter((r) => r.extends_grant_id === g.id && r.grant_id === null);
    return { count: approved.length, seconds: approved.reduce((n, r) => n + r.duration_seconds, 0) };
  }

  async function create(who: Principal, input: NewRequestInput): Promise<RequestOutcome> {
    const profile = profileOrThrow(input.profile);
    validateText(input);
    const held = (await store.read.listGrants({ grantee: who.email, profile: profile.name, states: ['activating', 'active'] }))[0];
    if (held && !input.breakGlass) return requestExtension(who, held.id, input.durationSeconds ?? profile.defaultSeconds, input.reason);
    const durationSeconds = input.durationSeconds ?? profile.defaultSeconds;
    const facts = await gatherFacts(profile, who, input);
    const decision = decideRequest(profile, who, { durationSeconds, reason: input.reason, ticket: input.ticket, incident: input.incident, breakGlass: input.breakGlass }, facts);
    if (decision.outcome === 'denied') throw policyDenied(decision.reasons.join('; '), decision.reasons);

    const { requestId, grantId } = await commit(async (tx, audit) => {
      const live = await tx.listGrants({ grantee: who.email, profile: profile.name, states: ['activating', 'active'] });
      if (live[0]) {
        throw conflict(`you already hold ${live[0].id} for ${profile.name}${live[0].ends_at ? ` until ${live[0].ends_at}` : ''}; use keyshift extend ${live[0].id}`);
      }
      const pending = (await tx.listRequests({ requester: who.email, profiles: [profile.name], states: ['pending'] })).filter((p) => p.kind === 'grant');
      if (pending[0] && !input.breakGlass) throw conflict(`request ${pending[0].id} for ${profile.name} is already pending`);
      const r = newRequest(who, profile, 'grant', null, durationSeconds, input, decision);
      await tx.insertRequest(r);
      await recordDecision(tx, audit, r, profile, decision);
      if (r.state !== 'approved') return { requestId: r.id, grantId: null };
      const grantId = await createGrantRow(tx, r, profile, audit);
      // Break-glass supersedes the user's pending requests for the profile, so approving
      // one later cannot hand out a second live grant.
      for (const old of pending) {
        await tx.updateRequest(old.id, { state: 'cancelled', decided_at: clock.now().toISOString(), decided_by: 'system:policy', decision_reasons: [`superseded by break-glass grant ${grantId} (request ${r.id})`] });
        await audit({ action: 'request.cancelled', actor: 'system:policy', ...base(old, profile), details: { superseded_by: r.id, grant_id: grantId } });
      }
      return { requestId: r.id, grantId };
    });
    return finish(requestId, grantId, who.email);
  }

  function newRequest(who: Principal, profile: Profile, kind: 'grant' | 'extension', extendsGrant: string | null, durationSeconds: number, input: { reason: string | null; ticket: string | null; incident: string | null; breakGlass: boolean }, decision: Decision): AccessRequest {
    const now = clock.now();
    const approved = decision.outcome !== 'needs_approval';
    return {
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
      decided_by: approved ? (input.breakGlass ? who.email : decision.preApprovedBy.length ? decision.preApprovedBy.map((a) => a.email).join(', ') : 'system:policy') : null,
      decision_comment: null,
      decision_reasons: decision.reasons,
      grant_id: null,
      kind,
      extends_grant_id: extendsGrant,
      approvals: [],
    };
  }

  /** Audit (and pre-approval rows) for a freshly created request, in its transaction. */
  async function recordDecision(tx: StoreTx, audit: (i: AuditInput) => Promise<AuditEvent>, r: AccessRequest, profile: Profile, decision: Decision): Promise<void> {
    await audit({
      action: 'request.created',
      actor: r.requester,
      ...base(r, profile),
      reason: r.reason,
      details: { kind: r.kind, extends_grant_id: r.extends_grant_id, duration: formatDuration(r.duration_seconds), break_glass: r.break_glass, outcome: decision.outcome, reasons: decision.reasons },
    });
    // Pre-approvals count as their authors' approvals, also when they cover only some
    // rules: the request then waits for the rest.
    if (decision.preApprovedBy.length && (decision.outcome === 'auto_approve' || decision.outcome === 'needs_approval')) {
      const tally = tallyApprovals(profile.approvalRules, decision.preApprovedBy, r.requester, profile.allowOverlap);
      for (const a of decision.preApprovedBy) {
        await tx.insertApproval(r.id, { approver: a.email, decision: 'approve', comment: 'pre-approved', rule: tally.assignment.get(a.email) ?? null, automatic: true, created_at: r.created_at });
      }
    }
    if (r.state !== 'approved') return;
    await audit({ action: 'request.approved', actor: r.decided_by!, ...base(r, profile), reason: r.reason, details: { automatic: true, outcome: decision.outcome, reasons: decision.reasons } });
  }

  /**
   * More time on a live grant: within the profile's `extend` limits, with the same
   * approval as the original unless `extend.approval: none` or auto-approval applies.
   * Returns the request (approved or pending) and the grant as it stands.
   */
  async function requestExtension(who: Principal, grantId: string, bySeconds: number, reason: string | null): Promise<RequestOutcome> {
    const g = await grants.get(who, grantId);
    if (g.grantee !== who.email) throw new KeyshiftError('FORBIDDEN', `only the grantee can extend grant ${grantId}`);
    if (g.state !== 'active' || (g.ends_at && g.ends_at <= clock.now().toISOString())) throw conflict(`grant ${grantId} is ${g.state === 'active' ? 'expired' : g.state}, not active`);
    const profile = profileOrThrow(g.profile);
    checkExtensionLimits(g, profile, bySeconds);
    if (reason !== null && reason.length > MAX_REASON) throw invalidInput(`reason is ${reason.length} characters; at most ${MAX_REASON}`);
    const shiftEnd = await grants.shiftEndFor(g, clock.now());
    if (profile.endOn.includes('shift_end') && Date.parse(g.ends_at!) + bySeconds * 1000 > (shiftEnd?.getTime() ?? 0)) {
      throw policyDenied(shiftEnd ? `${profile.name} ends with your on-call shift at ${shiftEnd.toISOString()}; the grant cannot be extended past it` : `${profile.name} ends with your on-call shift, and you are not on call now`);
    }
    const input = { reason, ticket: g.ticket, incident: g.incident, breakGlass: false };
    let decision: Decision;
    if (profile.extend!.approval === 'none') {
      decision = { outcome: 'auto_approve', reasons: [`${profile.name} lets the grantee extend without approval (extend.approval: none)`], preApprovedBy: [] };
    } else {
      const facts = await gatherFacts(profile, who, { ticket: null, incident: null, breakGlass: false });
      // The grant's own requirements were checked when it was requested; an extension
      // is judged on requesters and approval only, with the extension's length.
      const d = decideRequest({ ...profile, requires: [], reason: { minLength: 0, pattern: null }, maxSeconds: Number.MAX_SAFE_INTEGER }, who, { durationSeconds: bySeconds, ...input, ticket: null, incident: null }, facts);
      if (d.outcome === 'denied') throw policyDenied(d.reasons.join('; '), d.reasons);
      decision = d;
    }
    const requestId = await commit(async (tx, audit) => {
      const pending = (await tx.listRequests({ requester: who.email, profiles: [profile.name], states: ['pending'] })).find((r) => r.extends_grant_id === grantId);
      if (pending) throw conflict(`extension request ${pending.id} for grant ${grantId} is already pending`);
      // Re-checked under the write lock, counting approved extensions not yet applied,
      // so parallel requests cannot together exceed the limits.
      const cur = await tx.getGrant(grantId);
      if (!cur || cur.state !== 'active') throw conflict(`grant ${grantId} is ${cur?.state ?? 'gone'}, not active`);
      checkExtensionLimits(cur, profile, bySeconds, await extensionsInFlight(tx, cur));
      const r = newRequest(who, profile, 'extension', grantId, bySeconds, input, decision);
      await tx.insertRequest(r);
      await recordDecision(tx, audit, r, profile, decision);
      return r.id;
    });
    return finish(requestId, null, who.email);
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
      if (r.state !== 'pending') throw conflict(`request ${id} is ${r.state}${r.decision_reasons[0] ? ` (${r.decision_reasons[0]})` : ''}`);
      const profile = profileOrThrow(r.profile);
      if (!isEligibleApprover(profile, who)) {
        throw policyDenied(`you are not an approver for ${r.profile} (${profile.approvalRules.map(describeRule).join('; ')})`);
      }
      const mine = r.approvals.find((a) => a.approver === who.email);
      if (mine) throw conflict(`you have already ${mine.decision === 'deny' ? 'denied' : 'approved'} request ${id}`);

      if (r.kind === 'extension') {
        const g = r.extends_grant_id ? await tx.getGrant(r.extends_grant_id) : null;
        if (!g || g.state !== 'active' || (g.ends_at !== null && g.ends_at <= clock.now().toISOString())) {
          throw conflict(`grant ${r.extends_grant_id} is ${g?.state === 'active' ? 'past its deadline' : (g?.state ?? 'gone')}; the extension request ${id} cannot be approved`);
        }
        const profileForLimits = profileOrThrow(r.profile);
        const others = await extensionsInFlight(tx, g);
        const problem = extensionProblem(g, profileForLimits, r.duration_seconds, clock.now(), others);
        if (problem) throw policyDenied(problem);
      } else {
        const live = (await tx.listGrants({ grantee: r.requester, profile: r.profile, states: ['activating', 'active'] }))[0];
        if (live) throw conflict(`${r.requester} already holds ${live.id} for ${r.profile}; request ${id} cannot add a second grant`);
      }
      const approvers = [
        ...r.approvals.filter((a) => a.decision === 'approve').map((a) => ({ email: a.approver, groups: deps.directory.lookup(a.approver)?.groups ?? [] })),
        { email: who.email, groups: who.groups },
      ];
      const tally = tallyApprovals(profile.approvalRules, approvers, r.requester, profile.allowOverlap);
      const now = clock.now().toISOString();
      await tx.insertApproval(id, { approver: who.email, decision: 'approve', comment, rule: tally.assignment.get(who.email) ?? null, automatic: false, created_at: now });
      const counted = tally.rules.map((s) => `${describeRule(s, s.index)}: ${s.counted.length ? s.counted.join(', ') : 'nobody yet'}${s.met ? ' ✓' : ''}`);
      if (!tally.satisfied) {
        await audit({ action: 'request.approval_added', actor: who.email, ...base(r, profile), reason: comment, details: { rule: tally.assignment.get(who.email) ?? null, rules: counted } });
        return null;
      }
      const reasons = ['all approval rules met', ...counted];
      await tx.updateRequest(id, { state: 'approved', decided_at: now, decided_by: who.email, decision_comment: comment, decision_reasons: reasons });
      await audit({ action: 'request.approved', actor: who.email, ...base(r, profile), reason: comment, details: { automatic: false, kind: r.kind, reasons } });
      if (r.kind === 'extension') return null;
      return createGrantRow(tx, { ...r, state: 'approved' }, profile, audit);
    });
    if (late) throw late;
    return finish(id, grantId, who.email);
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
      if (r.state !== 'pending') throw conflict(`request ${id} is ${r.state}${r.decision_reasons[0] ? ` (${r.decision_reasons[0]})` : ''}`);
      const profile = profileOrThrow(r.profile);
      if (!isEligibleApprover(profile, who)) throw policyDenied(`you are not an approver for ${r.profile}`);
      const mine = r.approvals.find((a) => a.approver === who.email);
      if (mine) throw conflict(`you have already ${mine.decision === 'deny' ? 'denied' : 'approved'} request ${id}`);
      const now = clock.now().toISOString();
      const denials = r.approvals.filter((a) => a.decision === 'deny').length + 1;
      await tx.insertApproval(id, { approver: who.email, decision: 'deny', comment, rule: null, automatic: false, created_at: now });
      if (denials < profile.denialsRequired) {
        await audit({ action: 'request.denial_added', actor: who.email, ...base(r, profile), reason: comment, details: { denials, denials_required: profile.denialsRequired } });
        return;
      }
      const deniers = [...r.approvals.filter((a) => a.decision === 'deny').map((a) => a.approver), who.email];
      const reasons = [`denied by ${deniers.join(', ')}${comment ? `: ${comment}` : ''}`];
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
      if (r.state !== 'pending') throw conflict(`request ${id} is ${r.state}${r.decision_reasons[0] ? ` (${r.decision_reasons[0]})` : ''}`);
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
      return rows.filter((r) => r.requester !== who.email && !r.approvals.some((a) => a.approver === who.email && !a.automatic));
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

  /**
   * What would happen if `subject` requested the profile now, and why — the same
   * decision code a real request runs, with the same on-call and pre-approval lookups.
   */
  async function explain(who: Principal, profileName: string, opts: { user?: string; durationSeconds?: number }) {
    const profile = deps.profiles.get(profileName);
    if (!profile || (!who.admin && !matchesAny(profile.requesters, who) && !isEligibleApprover(profile, who))) throw notFound('profile', profileName);
    let subject: { email: string; groups: string[] } = who;
    if (opts.user && opts.user.toLowerCase() !== who.email.toLowerCase()) {
      if (!who.admin) throw new KeyshiftError('FORBIDDEN', 'explaining the policy for another user is for admins');
      const found = deps.directory.lookup(opts.user);
      if (!found) throw invalidInput(`user ${JSON.stringify(opts.user)} is not in the directory`);
      subject = found;
    }
    const durationSeconds = opts.durationSeconds ?? profile.defaultSeconds;
    const facts = await gatherFacts(profile, subject, { ticket: null, incident: null, breakGlass: false });
    // Requirements are shown as what a request must carry, not as a denial of the question.
    const asked = { ...profile, requires: [], reason: { minLength: 0, pattern: null }, ticketPattern: null, incidentPattern: null };
    const decision = decideRequest(asked, subject, { durationSeconds, reason: null, ticket: null, incident: null, breakGlass: false }, facts);
    const requirements = profile.requires.map((r) => `a request must include ${r === 'incident' ? 'an incident' : `a ${r}`} (--${r})`);
    if (profile.reason.minLength) requirements.push(`the reason must be at least ${profile.reason.minLength} characters`);
    if (profile.reason.pattern) requirements.push(`the reason must match ${profile.reason.pattern}`);
    if (profile.ticketPattern) requirements.push(`tickets must match ${profile.ticketPattern}${deps.tickets ? ' and be open' : ''}`);
    if (profile.incidentPattern) requirements.push(`incidents must match ${profile.incidentPattern}${deps.incidents ? ' and be open' : ''}`);
    const held = (await store.read.listGrants({ grantee: subject.email, profile: profile.name, states: ['active'] }))[0];
    if (held && decision.outcome !== 'denied') {
      // A request now would be an extension of the held grant: its limits decide first.
      try {
        checkExtensionLimits(held, profile, durationSeconds);
        if (profile.extend?.approval === 'none') {
          decision.outcome = 'auto_approve';
          decision.reasons = [`it would extend ${held.id}, which ${profile.name} lets the grantee do without approval`];
        }
      } catch (e) {
        decision.outcome = 'denied';
        decision.reasons = [e instanceof Error ? e.message : String(e)];
      }
    }
    const eligible = eligibleApprovers(profile, deps.directory, subject.email);
    return {
      profile: profile.name,
      user: subject.email,
      duration_seconds: durationSeconds,
      allowed: decision.outcome !== 'denied',
      outcome: decision.outcome,
      reasons: decision.reasons,
      requirements,
      rules: profile.approvalRules.map((r, i) => ({ index: i, approvers: r.approvers, count: r.count, eligible: eligible[i] ?? [], satisfiable: (eligible[i]?.length ?? 0) >= r.count })),
      on_call: facts.onCall ? { on_call: facts.onCall.onCall, detail: facts.onCall.detail, shift_ends_at: (facts.onCall as { shiftEndsAt?: Date | null }).shiftEndsAt?.toISOString() ?? null } : null,
      pre_approvals: facts.preApprovals.map((p) => ({ id: p.id, by: p.approver.email, until: p.until })),
      held_grant: held ? { id: held.id, ends_at: held.ends_at, note: 'a new request becomes an extension request for this grant' } : null,
      break_glass_allowed: profile.breakGlass.allowed,
    };
  }

  /** Who can get what, on which terms (admins): every directory user × every profile. */
  function matrix(users: Array<{ email: string; groups: string[] }>) {
    return [...deps.profiles.values()].map((profile) => {
      const asked = { ...profile, requires: [], reason: { minLength: 0, pattern: null }, ticketPattern: null, incidentPattern: null, autoApproveOnCall: null };
      return {
        profile: profile.name,
        connector: profile.connector,
        max_seconds: profile.maxSeconds,
        requires: profile.requires,
        on_call_auto_approval: profile.autoApproveOnCall,
        break_glass: profile.breakGlass.allowed,
        users: users.map((u) => {
          const d = decideRequest(asked, u, { durationSeconds: profile.defaultSeconds, reason: null, ticket: null, incident: null, breakGlass: false });
          return { user: u.email, outcome: d.outcome, approver: isEligibleApprover(profile, u) };
        }),
      };
    });
  }

  return { create, get, approve, deny, cancel, expireStale, list, requestExtension, explain, matrix };
}

export type RequestService = ReturnType<typeof createRequestService>;
