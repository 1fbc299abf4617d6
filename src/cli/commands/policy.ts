import type { Verb } from '../command.ts';
import { arg, opt } from '../command.ts';
import type { Explanation } from '../api-types.ts';
import { checkDuration } from '../durations.ts';
import { compactDuration } from '../output.ts';

const OUTCOME: Record<Explanation['outcome'], string> = {
  auto_approve: 'approved automatically',
  needs_approval: 'needs approval',
  denied: 'denied',
};

export const verb: Verb = {
  explain: {
    usage: 'policy explain PROFILE [--user EMAIL] [--for 2h]',
    description: [
      'Show what would happen if USER (default: you) requested PROFILE now, and why:',
      'the policy reasons, each approval rule and who is eligible to approve it.',
      'Exits 0 whatever the outcome: it is a question, not a request.',
    ].join('\n'),
    args: ['PROFILE'],
    options: {
      user: { type: 'string', value: 'EMAIL', help: 'explain for another user (default: you)' },
      for: { type: 'string', value: 'DURATION', help: 'requested duration, e.g. 2h (default: the profile default)' },
    },
    run: async (ctx) => {
      const duration = opt(ctx, 'for');
      if (duration) checkDuration(duration, '--for');
      const client = await ctx.client();
      const x = await client.get<Explanation>(`/profiles/${encodeURIComponent(arg(ctx, 0))}/explain`, {
        user: opt(ctx, 'user'),
        duration,
      });
      if (ctx.json) {
        ctx.out.value(x);
        return 0;
      }
      ctx.out.line(`${x.profile} for ${x.user}, ${compactDuration(x.duration_seconds)}: ${OUTCOME[x.outcome]}`);
      for (const r of x.reasons) ctx.out.line(`  - ${r}`);
      for (const rule of x.rules) {
        const who = rule.eligible.length > 0 ? rule.eligible.join(', ') : 'nobody eligible';
        ctx.out.line(`  rule ${rule.index + 1}: ${rule.count} of ${rule.approvers.join('|')} (eligible: ${who})`);
      }
      ctx.out.line(`  break-glass: ${x.break_glass_allowed ? 'allowed' : 'not allowed'}`);
      return 0;
    },
  },
};
