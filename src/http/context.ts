import type { FastifyRequest } from 'fastify';
import type { Clock } from '../core/clock.ts';
import type { Principal } from '../core/model.ts';
import type { ConnectorPort, Store } from '../core/ports.ts';
import type { Directory, Profile } from '../core/profile.ts';
import type { RequestService } from '../core/request-service.ts';
import type { GrantService } from '../core/grant-service.ts';
import type { TokenService } from '../core/token-service.ts';
import type { AuditService } from '../core/audit-service.ts';
import type { PreApprovalService } from '../core/preapproval-service.ts';
import { KeyshiftError } from '../core/errors.ts';
import type { Registry } from 'prom-client';

/** Everything the routes need, built by the composition root. */
export interface HttpContext {
  clock: Clock;
  store: Store;
  profiles: ReadonlyMap<string, Profile>;
  directory: Directory;
  connectors: ReadonlyMap<string, ConnectorPort>;
  requests: RequestService;
  grants: GrantService;
  tokens: TokenService;
  audit: AuditService;
  preapprovals: PreApprovalService;
  metrics: Registry;
  maxBodyBytes: number;
  /** False until start-up recovery (expired grants revoked) has finished. */
  ready(): boolean;
}

declare module 'fastify' {
  interface FastifyRequest {
    principal: (Principal & { tokenId: string }) | null;
  }
}

export function principalOf(req: FastifyRequest): Principal & { tokenId: string } {
  if (!req.principal) throw new KeyshiftError('UNAUTHENTICATED', 'send Authorization: Bearer <token>');
  return req.principal;
}
