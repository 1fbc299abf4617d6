import type { Verb } from '../command.ts';
import { arg } from '../command.ts';
import type { PreApproval } from '../api-types.ts';
import { printPreApproval } from './preapprovals.ts';

export const verb: Verb = {
  revoke: {
    usage: 'preapproval revoke ID',
    description: 'Withdraw a pre-approval window now (its author, or an admin). Grants it already approved stay.',
    args: ['ID'],
    run: async (ctx) => {
      const p = await (await ctx.client()).post<PreApproval>(`/preapprovals/${encodeURIComponent(arg(ctx, 0))}/revoke`, {});
      if (ctx.json) ctx.out.value(p);
      else printPreApproval(ctx.out, p);
      return 0;
    },
  },
};
