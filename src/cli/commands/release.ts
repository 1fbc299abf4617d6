import type { Verb } from '../command.ts';
import { arg } from '../command.ts';
import type { Grant } from '../api-types.ts';
import { printGrant } from '../views.ts';

export const verb: Verb = {
  '': {
    usage: 'release GRANT',
    description: '"I\'m done": end your own grant now. Access is removed at the target at once.',
    args: ['GRANT'],
    run: async (ctx) => {
      const result = await (await ctx.client()).post<{ grant: Grant }>(`/grants/${encodeURIComponent(arg(ctx, 0))}/release`);
      if (ctx.json) ctx.out.value(result);
      else printGrant(ctx.out, result.grant);
      return 0;
    },
  },
};
