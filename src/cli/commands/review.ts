import type { Verb } from '../command.ts';
import { arg, opt } from '../command.ts';
import type { Grant } from '../api-types.ts';
import { relative } from '../output.ts';

export const verb: Verb = {
  '': {
    usage: 'review GRANT [--comment TEXT]',
    description: [
      'Acknowledge someone\'s break-glass grant (approvers of its profile, and admins); this',
      'closes its review item. Nobody reviews their own break-glass use.',
    ].join('\n'),
    args: ['GRANT'],
    options: { comment: { type: 'string', value: 'TEXT', help: 'what you checked; kept in the audit log' } },
    run: async (ctx) => {
      const result = await (await ctx.client()).post<{ grant: Grant }>(`/grants/${encodeURIComponent(arg(ctx, 0))}/review`, {
        comment: opt(ctx, 'comment'),
      });
      if (ctx.json) {
        ctx.out.value(result);
        return 0;
      }
      const g = result.grant;
      const late = g.review_due_at && g.reviewed_at && g.reviewed_at > g.review_due_at ? `, late: it was due ${relative(g.review_due_at)}` : '';
      ctx.out.line(`reviewed ${g.id}: break-glass ${g.profile} by ${g.grantee}, ${g.state}${late}`);
      if (g.review_comment) ctx.out.line(`  comment: ${g.review_comment}`);
      return 0;
    },
  },
};
