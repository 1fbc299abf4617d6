import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { HttpContext } from '../context.ts';
import { principalOf } from '../context.ts';
import { parseInput } from '../validate.ts';
import { parseDuration } from '../../core/duration.ts';
import { GRANT_STATES } from '../../core/model.ts';
import type { Grant } from '../../core/model.ts';
import { notFound } from '../../core/errors.ts';
import { isId } from '../../core/ids.ts';

export const CredentialsBody = z.object({ public_key: z.string().max(16_384).optional() }).strict();
export const ExtendBody = z.object({ duration: z.string().max(40), reason: z.string().max(2000).nullish() }).strict();
export const ReviewBody = z.object({ comment: z.string().max(2000).nullish() }).strict();
export const RevokeBody = z.object({ reason: z.string().trim().min(1, 'a reason is required').max(2000) }).strict();
export const ListGrantsQuery = z
  .object({
    state: z.string().optional().transform((s, c) => {
      if (!s) return undefined;
      const states = s.split(',');
      for (const st of states) if (!(GRANT_STATES as readonly string[]).includes(st)) c.addIssue({ code: 'custom', message: `unknown state ${JSON.stringify(st)} (one of ${GRANT_STATES.join(', ')})` });
      return states as (typeof GRANT_STATES)[number][];
    }),
    user: z.string().max(320).optional(),
    all: z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1').optional(),
  })
  .strict();

const grantId = (id: string) => {
  if (!isId('grt', id)) throw notFound('grant', id);
  return id;
};

/** Adds what readers need at a glance: an unreviewed break-glass grant past its review date. */
function present(g: Grant, now: string): Grant & { review_overdue: boolean } {
  return { ...g, review_overdue: g.break_glass && g.reviewed_at === null && g.review_due_at !== null && g.review_due_at < now };
}

export function grantRoutes(app: FastifyInstance, ctx: HttpContext): void {
  app.get('/api/v1/grants', async (req) => {
    const q = parseInput(ListGrantsQuery, req.query, 'query');
    const now = ctx.clock.now().toISOString();
    return { items: (await ctx.grants.list(principalOf(req), { all: q.all, state: q.state, user: q.user })).map((g) => present(g, now)) };
  });

  app.get<{ Params: { id: string } }>('/api/v1/grants/:id', async (req) => present(await ctx.grants.get(principalOf(req), grantId(req.params.id)), ctx.clock.now().toISOString()));

  app.post<{ Params: { id: string } }>('/api/v1/grants/:id/credentials', async (req) => {
    const who = principalOf(req);
    const body = parseInput(CredentialsBody, req.body, 'body');
    return ctx.grants.issueCredentials(who, grantId(req.params.id), { publicKey: body.public_key });
  });

  // An extension is a request: applied at once when the policy auto-approves it
  // (200, with re-issued credentials if the connector made any), else pending (202).
  app.post<{ Params: { id: string } }>('/api/v1/grants/:id/extend', async (req, reply) => {
    const who = principalOf(req);
    const body = parseInput(ExtendBody, req.body, 'body');
    const outcome = await ctx.requests.requestExtension(who, grantId(req.params.id), parseDuration(body.duration, 'extension'), body.reason ?? null);
    return reply.status(outcome.request.state === 'pending' ? 202 : 200).send({ request: outcome.request, grant: outcome.grant, credentials: outcome.credentials ?? null });
  });

  app.post<{ Params: { id: string } }>('/api/v1/grants/:id/review', async (req) => {
    const who = principalOf(req);
    const body = parseInput(ReviewBody, req.body, 'body');
    return { grant: present(await ctx.grants.review(who, grantId(req.params.id), body.comment ?? null), ctx.clock.now().toISOString()) };
  });

  app.get('/api/v1/reviews', async (req) => {
    const who = principalOf(req);
    const now = ctx.clock.now().toISOString();
    return { items: (await ctx.grants.reviews(who)).map((g) => present(g, now)) };
  });

  app.post<{ Params: { id: string } }>('/api/v1/grants/:id/release', async (req) => {
    const who = principalOf(req);
    parseInput(z.object({}).strict(), req.body, 'body');
    return { grant: await ctx.grants.release(who, grantId(req.params.id)) };
  });

  app.post<{ Params: { id: string } }>('/api/v1/grants/:id/revoke', async (req) => {
    const who = principalOf(req);
    const body = parseInput(RevokeBody, req.body, 'body');
    return { grant: await ctx.grants.revoke(who, grantId(req.params.id), body.reason) };
  });
}
