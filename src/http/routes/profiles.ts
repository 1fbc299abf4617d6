import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { HttpContext } from '../context.ts';
import { principalOf } from '../context.ts';
import { parseInput } from '../validate.ts';
import { parseDuration } from '../../core/duration.ts';
import { KeyshiftError, invalidInput, notFound } from '../../core/errors.ts';
import { matchesAny } from '../../core/profile.ts';
import type { Profile } from '../../core/profile.ts';
import { decideRequest, eligibleApprovers } from '../../core/policy-engine.ts';

export const ExplainQuery = z.object({ user: z.string().max(320).optional(), duration: z.string().max(40).optional() }).strict();

function describe(p: Profile, ctx: HttpContext, canRequest: boolean) {
  return {
    name: p.name,
    description: p.description,
    connector: p.connector,
    connector_type: p.connectorType,
    duration: { default_seconds: p.defaultSeconds, max_seconds: p.maxSeconds },
    requires: p.requires,
    requesters: p.requesters,
    approval: { rules: p.approvalRules.map((r) => ({ approvers: r.approvers, count: r.count })), auto_approve: p.approvalRules.length === 0 || p.autoApproveOnCall !== null },
    request_ttl_seconds: p.requestTtlSeconds,
    break_glass: { allowed: p.breakGlass.allowed, review_within_seconds: p.breakGlass.reviewWithinSeconds },
    extend: p.extend ? { max_times: p.extend.maxTimes, max_total_seconds: p.extend.maxTotalSeconds } : null,
    can_request: canRequest,
    connector_ready: ctx.connectors.has(p.connector),
  };
}

export function profileRoutes(app: FastifyInstance, ctx: HttpContext): void {
  app.get('/api/v1/profiles', async (req) => {
    const who = principalOf(req);
    const items = [...ctx.profiles.values()]
      .map((p) => ({ p, can: matchesAny(p.requesters, who) }))
      .filter(({ can }) => can || who.admin)
      .map(({ p, can }) => describe(p, ctx, can));
    return { items };
  });

  app.get<{ Params: { name: string } }>('/api/v1/profiles/:name/explain', async (req) => {
    const who = principalOf(req);
    const q = parseInput(ExplainQuery, req.query, 'query');
    const profile = ctx.profiles.get(req.params.name);
    if (!profile || (!who.admin && !matchesAny(profile.requesters, who) && !profile.approvalRules.some((r) => matchesAny(r.approvers, who)))) {
      throw notFound('profile', req.params.name);
    }
    let subject = who as { email: string; groups: string[] };
    if (q.user && q.user.toLowerCase() !== who.email.toLowerCase()) {
      if (!who.admin) throw new KeyshiftError('FORBIDDEN', 'explaining the policy for another user is for admins');
      const found = ctx.directory.lookup(q.user);
      if (!found) throw invalidInput(`user ${JSON.stringify(q.user)} is not in the directory`);
      subject = found;
    }
    const durationSeconds = q.duration ? parseDuration(q.duration) : profile.defaultSeconds;
    const onCall = profile.autoApproveOnCall ? { onCall: false, detail: `on-call source ${profile.autoApproveOnCall.source} is not available in this version` } : null;
    const decision = decideRequest(profile, subject, { durationSeconds, reason: 'explain', ticket: 'explain', incident: 'explain', breakGlass: false }, onCall);
    const missing = profile.requires.map((r) => `a request must include ${r === 'incident' ? 'an incident' : `a ${r}`} (--${r})`);
    const eligible = eligibleApprovers(profile, ctx.directory, subject.email);
    return {
      profile: profile.name,
      user: subject.email,
      duration_seconds: durationSeconds,
      allowed: decision.outcome !== 'denied',
      outcome: decision.outcome,
      reasons: [...decision.reasons, ...missing],
      rules: profile.approvalRules.map((r, i) => ({ index: i, approvers: r.approvers, count: r.count, eligible: eligible[i] ?? [] })),
      break_glass_allowed: profile.breakGlass.allowed,
    };
  });
}
