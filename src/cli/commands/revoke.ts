import type { Verb } from '../command.ts';
import { arg, opt } from '../command.ts';
import type { Grant } from '../api-types.ts';
import { usageError } from '../errors.ts';
import { printGrant } from '../views.ts';

export const verb: Verb = {
  '': {
    usage: 'revoke GRANT --reason TEXT',
    description: 'End someone\'s grant now (approvers and admins). The reason is kept in the audit log.',
    args: ['GRANT'],
    options: { reason: { type: 'string', value: 'TEXT', help: 'why (required)' } },
    run: async (ctx) => {
      const reason = opt(ctx, 'reason');
      if (!reason) throw usageError('missing --reason TEXT: a revocation must say why');
      const result = await (await ctx.client()).post<{ grant: Grant }>(
        `/grants/${encodeURIComponent(arg(ctx, 0))}/revoke`,
        { reason },
      );
      if (ctx.json) ctx.out.value(result);
      else printGrant(ctx.out, result.grant);
      return 0;
    },
  },
};
