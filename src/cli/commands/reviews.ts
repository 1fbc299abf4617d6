import type { Verb } from '../command.ts';
import type { ListOf, ReviewItem } from '../api-types.ts';
import { relative } from '../output.ts';

export const verb: Verb = {
  '': {
    usage: 'reviews',
    description: [
      'List open break-glass review items you may acknowledge (admins: all), overdue ones',
      'first and marked OVERDUE. Acknowledge one with keyshift review GRANT.',
    ].join('\n'),
    run: async (ctx) => {
      const { items } = await (await ctx.client()).get<ListOf<ReviewItem>>('/reviews');
      if (ctx.json) {
        ctx.out.value({ items });
        return 0;
      }
      if (items.length === 0) {
        ctx.out.info('no open break-glass reviews');
        return 0;
      }
      // Overdue first, then by deadline: what most needs a human comes first.
      const sorted = [...items].sort(
        (a, b) => Number(b.review_overdue) - Number(a.review_overdue) || (a.review_due_at ?? '').localeCompare(b.review_due_at ?? ''),
      );
      ctx.out.table(
        ['GRANT', 'REVIEW', 'PROFILE', 'USER', 'STATE', 'ACTIVATED', 'INCIDENT'],
        sorted.map((g) => [
          g.id,
          g.review_overdue ? `OVERDUE (due ${relative(g.review_due_at)})` : `due ${relative(g.review_due_at)}`,
          g.profile,
          g.grantee,
          g.state,
          relative(g.activated_at ?? g.created_at),
          g.incident ?? '',
        ]),
      );
      const overdue = items.filter((g) => g.review_overdue).length;
      ctx.out.info(
        `${items.length} open review${items.length === 1 ? '' : 's'}${overdue ? `, ${overdue} OVERDUE` : ''}; acknowledge with: keyshift review GRANT [--comment TEXT]`,
      );
      return 0;
    },
  },
};
