import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { HttpContext } from '../context.ts';
import { principalOf } from '../context.ts';
import { parseInput } from '../validate.ts';
import { parseDuration } from '../../core/duration.ts';
import { KeyshiftError } from '../../core/errors.ts';
import { matchesAny } from '../../core/profile.ts';
import type { Profile } from '../../core/profile.ts';

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
    parseInput(z.object({}).strict(), req.query, 'query');
    const items = [...ctx.profiles.values()]
      .map((p) => ({ p, can: matchesAny(p.requesters, who) }))
      .filter(({ can }) => can || who.admin)
      .map(({ p, can }) => describe(p, ctx, can));
    return { items };
  });

  app.get<{ Params: { name: string } }>('/api/v1/profiles/:name/explain', async (req) => {
    const who = principalOf(req);
    const q = parseInput(ExplainQuery, req.query, 'query');
    return ctx.requests.explain(who, req.params.name, { user: q.user, durationSeconds: q.duration ? parseDuration(q.duration) : undefined });
  });

  app.get('/api/v1/policy/matrix', async (req) => {
    const who = principalOf(req);
    if (!who.admin) throw new KeyshiftError('FORBIDDEN', 'the policy matrix is for admins');
    return { items: ctx.requests.matrix(ctx.directory.all()) };
  });
}
