import type { Verb } from '../command.ts';
import { arg, opt } from '../command.ts';
import type { PreApproval } from '../api-types.ts';
import { checkDuration } from '../durations.ts';
import { usageError } from '../errors.ts';
import { printPreApproval } from './preapprovals.ts';

export const verb: Verb = {
  '': {
    usage: 'preapprove USER PROFILE (--for 7d | --until TIME) [--from TIME] [--reason TEXT]',
    description: [
      'Approve USER for PROFILE ahead of time, e.g. for their on-call week (approvers of the',
      'profile; never yourself; at most 31 days). A request USER makes inside the window counts',
      'this as your approval, so it is approved at once when that meets every approval rule.',
      'TIME is an ISO time like 2026-12-07T09:00:00Z. The window starts now unless --from.',
    ].join('\n'),
    args: ['USER', 'PROFILE'],
    options: {
      for: { type: 'string', value: 'DURATION', help: 'window length from --from (or now), e.g. 7d' },
      until: { type: 'string', value: 'TIME', help: 'window end, an ISO time (instead of --for)' },
      from: { type: 'string', value: 'TIME', help: 'window start, an ISO time (default: now)' },
      reason: { type: 'string', value: 'TEXT', help: 'why, e.g. "on call week 49"; kept in the audit log' },
    },
    run: async (ctx) => {
      const length = opt(ctx, 'for');
      const until = opt(ctx, 'until');
      const from = opt(ctx, 'from');
      if ((length === undefined) === (until === undefined)) {
        throw usageError('give exactly one of --for DURATION or --until TIME, e.g. keyshift preapprove USER PROFILE --for 7d');
      }
      if (length !== undefined) checkDuration(length, '--for');
      if (until !== undefined) checkTime(until, '--until');
      if (from !== undefined) checkTime(from, '--from');
      if (from !== undefined && until !== undefined && Date.parse(until) <= Date.parse(from)) {
        throw usageError(`--until ${until} is not after --from ${from}`);
      }
      const created = await (await ctx.client()).post<PreApproval>('/preapprovals', {
        profile: arg(ctx, 1),
        user: arg(ctx, 0),
        starts_at: from,
        ends_at: until,
        duration: length,
        reason: opt(ctx, 'reason'),
      });
      if (ctx.json) ctx.out.value(created);
      else printPreApproval(ctx.out, created);
      ctx.out.info(`withdraw it with: keyshift preapproval revoke ${created.id}`);
      return 0;
    },
  },
};

/** The server's own rule: a full ISO time (date and time), so `12/07` is exit 2, not a guess. */
function checkTime(value: string, flag: string): void {
  if (!/^\d{4}-\d{2}-\d{2}T/.test(value) || Number.isNaN(Date.parse(value))) {
    throw usageError(`${flag} ${JSON.stringify(value)} is not an ISO time; write it like 2026-12-07T09:00:00Z`);
  }
}
