import type { Verb } from '../command.ts';
import type { Me } from '../api-types.ts';

export const verb: Verb = {
  '': {
    usage: 'whoami',
    description: 'Show the user, groups and admin flag the server resolves your token to.',
    run: async (ctx) => {
      const client = await ctx.client();
      const me = await client.get<Me>('/me');
      if (ctx.json) {
        ctx.out.value(me);
        return 0;
      }
      ctx.out.line(`${me.email}${me.admin ? ' (admin)' : ''}`);
      ctx.out.line(`groups: ${me.groups.length > 0 ? me.groups.join(', ') : '(none)'}`);
      ctx.out.line(`server: ${client.server}`);
      return 0;
    },
  },
};
