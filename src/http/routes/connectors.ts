import type { FastifyInstance } from 'fastify';
import type { HttpContext } from '../context.ts';
import { notFound } from '../../core/errors.ts';

/**
 * Open endpoints for hosts: the SSH CA public key and the key revocation list. Neither is
 * secret (the KRL lists certificate serials, not names) and hosts fetch them unattended.
 */
export function connectorRoutes(app: FastifyInstance, ctx: HttpContext): void {
  app.get<{ Params: { name: string } }>('/api/v1/connectors/:name/krl', async (req, reply) => {
    const c = ctx.connectors.get(req.params.name);
    if (!c?.revocationList) throw notFound('SSH connector', req.params.name);
    const states = await ctx.grants.revocationStates(c.name);
    return reply.type('application/octet-stream').header('cache-control', 'no-store').send(c.revocationList(states));
  });

  app.get<{ Params: { name: string } }>('/api/v1/connectors/:name/ca.pub', async (req, reply) => {
    const c = ctx.connectors.get(req.params.name);
    if (!c?.caPublicKey) throw notFound('SSH connector', req.params.name);
    return reply.type('text/plain; charset=utf-8').send(c.caPublicKey() + '\n');
  });
}
