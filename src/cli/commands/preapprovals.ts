import type { Verb } from '../command.ts';
import type { ListOf, PreApproval } from '../api-types.ts';
import type { Output } from '../output.ts';
import { relative } from '../output.ts';

export const verb: Verb = {
  '': {
    usage: 'preapprovals',
    description: [
      'List pre-approval windows: those you granted or hold (admins: all), with their state',
      '(active, scheduled, ended, revoked).',
    ].join('\n'),
    run: async (ctx) => {
      const { items } = await (await ctx.client()).get<ListOf<PreApproval>>('/preapprovals');
      if (ctx.json) {
        ctx.out.value({ items });
        return 0;
      }
      if (items.length === 0) {
        ctx.out.info('no pre-approvals');
        return 0;
      }
      ctx.out.table(
        ['ID', 'STATE', 'USER', 'PROFILE', 'FROM', 'UNTIL', 'BY', 'REASON'],
        items.map((p) => [p.id, stateOf(p), p.user, p.profile, relative(p.starts_at), relative(p.ends_at), p.created_by, p.reason ?? '']),
      );
      return 0;
    },
  },
};

export type PreApprovalState = 'active' | 'scheduled' | 'ended' | 'revoked';

export function stateOf(p: PreApproval, now = Date.now()): PreApprovalState {
  if (p.revoked_at) return 'revoked';
  if (Date.parse(p.ends_at) <= now) return 'ended';
  return Date.parse(p.starts_at) > now ? 'scheduled' : 'active';
}

export function printPreApproval(out: Output, p: PreApproval): void {
  out.line(`pre-approval  ${p.id}  ${stateOf(p)}  ${p.user} for ${p.profile}, approved by ${p.created_by}`);
  out.line(`              from ${p.starts_at} (${relative(p.starts_at)}) until ${p.ends_at} (${relative(p.ends_at)})`);
  if (p.reason) out.line(`              reason: ${p.reason}`);
  if (p.revoked_at) out.line(`              revoked ${relative(p.revoked_at)} by ${p.revoked_by ?? '?'}`);
}
