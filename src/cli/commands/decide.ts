import type { Command } from '../command.ts';
import { arg, opt } from '../command.ts';
import type { RequestResult } from '../api-types.ts';
import { printGrant, printRequest } from '../views.ts';

/**
 * approve and deny are the same command against two endpoints. The server enforces
 * who may decide (never one's own request): a refusal comes back as POLICY_DENIED, exit 3.
 */
export function decisionCommand(action: 'approve' | 'deny'): Command {
  return {
    usage: `${action} REQUEST [--comment TEXT]`,
    description:
      action === 'approve'
        ? 'Approve a pending request. It stays pending while other approval rules still need approvers.'
        : 'Deny a pending request; the requester sees your comment.',
    args: ['REQUEST'],
    options: { comment: { type: 'string', value: 'TEXT', help: 'shown to the requester and kept in the audit log' } },
    run: async (ctx) => {
      const id = arg(ctx, 0);
      const result = await (await ctx.client()).post<RequestResult>(`/requests/${encodeURIComponent(id)}/${action}`, {
        comment: opt(ctx, 'comment'),
      });
      if (ctx.json) {
        ctx.out.value(result);
        return 0;
      }
      printRequest(ctx.out, result.request);
      if (result.grant) printGrant(ctx.out, result.grant, { forGrantee: false });
      else if (result.request.state === 'pending') ctx.out.info('your approval is recorded; other approval rules still need approvers');
      return 0;
    },
  };
}
