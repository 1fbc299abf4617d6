import type { Verb } from '../command.ts';
import type { ListOf, ProfileInfo } from '../api-types.ts';
import { compactDuration } from '../output.ts';
import { describeApproval } from '../views.ts';

export const verb: Verb = {
  '': {
    usage: 'profiles',
    description: 'List access profiles: which you may request, for how long, and what approval they need.',
    run: async (ctx) => {
      const { items } = await (await ctx.client()).get<ListOf<ProfileInfo>>('/profiles');
      if (ctx.json) {
        ctx.out.value({ items });
        return 0;
      }
      if (items.length === 0) {
        ctx.out.info('no profiles are configured');
        return 0;
      }
      ctx.out.table(
        ['PROFILE', 'CONNECTOR', 'DURATION', 'APPROVAL', 'REQUIRES', 'YOU', 'DESCRIPTION'],
        items.map((p) => [
          p.name,
          `${p.connector} (${p.connector_type})`,
          `${compactDuration(p.duration.default_seconds)} (max ${compactDuration(p.duration.max_seconds)})`,
          describeApproval(p) + (p.break_glass.allowed ? ', break-glass' : ''),
          p.requires.join(',') || '-',
          p.can_request ? 'yes' : 'no',
          p.description ?? '',
        ]),
      );
      return 0;
    },
  },
};
