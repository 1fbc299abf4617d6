import type { Verb } from '../command.ts';
import { arg } from '../command.ts';
import type { RequestResult } from '../api-types.ts';
import { printRequest } from '../views.ts';

export const verb: Verb = {
  '': {
    usage: 'cancel REQUEST',
    description: 'Withdraw your own pending request.',
    args: ['REQUEST'],
    run: async (ctx) => {
      const id = arg(ctx, 0);
      const result = await (await ctx.client()).post<RequestResult>(`/requests/${encodeURIComponent(id)}/cancel`);
      if (ctx.json) ctx.out.value(result);
      else printRequest(ctx.out, result.request);
      return 0;
    },
  },
};
