import type { CommandContext, Verb } from '../command.ts';
import { arg, opt } from '../command.ts';
import type { Explanation, ListOf, MatrixRow, PolicyOutcome } from '../api-types.ts';
import { checkDuration } from '../durations.ts';
import { compactDuration, relative } from '../output.ts';

const OUTCOME: Record<PolicyOutcome, string> = {
  auto_approve: 'would be auto-approved',
  needs_approval: 'needs approval',
  break_glass: 'would activate as break-glass',
  denied: 'would be denied',
};

/** Matrix cells: short enough that a dozen profiles fit a terminal. */
const CELL: Record<PolicyOutcome, string> = {
  auto_approve: 'auto',
  needs_approval: 'approval',
  break_glass: 'break-glass',
  denied: '—',
};

export const verb: Verb = {
  explain: {
    usage: 'policy explain PROFILE [--user EMAIL] [--for 2h]',
    description: [
      'Show what would happen if USER (default: you; another user: admins) requested PROFILE',
      'now, and why: the outcome and its reasons, what a request must include, on-call status,',
      'pre-approvals, each approval rule with who may approve it (and a warning when nobody',
      'can), a grant USER already holds, and whether break-glass is allowed.',
      'Exits 0 whatever the outcome: it is a question, not a request.',
    ].join('\n'),
    args: ['PROFILE'],
    options: {
      user: { type: 'string', value: 'EMAIL', help: 'explain for another user (admins; default: you)' },
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
      if (ctx.json) ctx.out.value(x);
      else printExplanation(ctx, x);
      return 0;
    },
  },
  matrix: {
    usage: 'policy matrix',
    description: [
      'Who can get what (admins): one row per profile, one column per user in the directory.',
      'A cell is auto (approved without anyone), approval (needs approvers), break-glass, or',
      '— (may not request it); * marks a user who may approve requests for that profile.',
      'On-call auto-approval depends on the moment, so cells ignore it; the AUTO IF ON CALL',
      'column names the schedule instead. Use policy explain for one user\'s full answer.',
    ].join('\n'),
    run: async (ctx) => {
      const { items } = await (await ctx.client()).get<ListOf<MatrixRow>>('/policy/matrix');
      if (ctx.json) {
        ctx.out.value({ items });
        return 0;
      }
      if (items.length === 0) {
        ctx.out.info('no profiles are configured');
        return 0;
      }
      // Users in first-seen order, so a column is the same person in every row.
      const users = [...new Set(items.flatMap((p) => p.users.map((u) => u.user)))];
      ctx.out.table(
        ['PROFILE', ...users, 'MAX', 'AUTO IF ON CALL', 'BREAK-GLASS'],
        items.map((p) => {
          const byUser = new Map(p.users.map((u) => [u.user, u]));
          return [
            p.profile,
            ...users.map((email) => {
              const u = byUser.get(email);
              return u ? `${CELL[u.outcome]}${u.approver ? '*' : ''}` : '?';
            }),
            compactDuration(p.max_seconds),
            p.on_call_auto_approval ? `${p.on_call_auto_approval.source}:${p.on_call_auto_approval.schedule}` : '-',
            p.break_glass ? 'allowed' : '-',
          ];
        }),
      );
      ctx.out.line('');
      ctx.out.line('auto: approved at once   approval: needs approvers   —: may not request   *: may approve');
      return 0;
    },
  },
};

function printExplanation(ctx: CommandContext, x: Explanation): void {
  const out = ctx.out;
  out.line(`${x.profile} for ${x.user}, ${compactDuration(x.duration_seconds)}: ${OUTCOME[x.outcome] ?? x.outcome}${headlineWhy(x)}`);
  if (x.reasons.length > 0) {
    out.line('why:');
    for (const r of x.reasons) out.line(`  - ${r}`);
  }
  if (x.held_grant) {
    const until = x.held_grant.ends_at ? ` until ${x.held_grant.ends_at} (ends ${relative(x.held_grant.ends_at)})` : '';
    out.line(`already held: ${x.held_grant.id}${until}`);
    out.line(`  ${x.held_grant.note}`);
  }
  if (x.on_call) {
    const shift = x.on_call.shift_ends_at ? `; shift ends ${relative(x.on_call.shift_ends_at)} (${x.on_call.shift_ends_at})` : '';
    out.line(`on call: ${x.on_call.on_call ? 'yes' : 'no'}: ${x.on_call.detail.replace(/\.$/, '')}${shift}`);
  }
  if (x.pre_approvals.length > 0) {
    out.line('pre-approved:');
    for (const p of x.pre_approvals) out.line(`  - by ${p.by} until ${p.until} (${relative(p.until)}), ${p.id}`);
  }
  if (x.rules.length > 0) {
    out.line(`approval rules${x.rules.length > 1 ? ' (all must be met)' : ''}:`);
    for (const rule of x.rules) {
      const who = rule.eligible.length > 0 ? rule.eligible.join(', ') : 'nobody eligible';
      out.line(`  rule ${rule.index + 1}: ${rule.count} of ${rule.approvers.join('|')} (eligible: ${who})`);
      if (!rule.satisfiable) {
        out.line(
          `    WARNING: nobody can satisfy rule ${rule.index + 1}: it needs ${rule.count} distinct approver${rule.count === 1 ? '' : 's'}` +
            ` besides ${x.user}, and only ${rule.eligible.length} ${rule.eligible.length === 1 ? 'is' : 'are'} eligible`,
        );
      }
    }
  } else {
    out.line('approval rules: none');
  }
  if (x.requirements.length > 0) {
    out.line('requirements:');
    for (const r of x.requirements) out.line(`  - ${r}`);
  }
  out.line(`break-glass: ${x.break_glass_allowed ? 'allowed' : 'not allowed'}`);
  if (x.rules.some((r) => !r.satisfiable) && x.outcome === 'needs_approval') {
    ctx.out.info(`warning: a request for ${x.profile} by ${x.user} could never be approved as the directory stands`);
  }
}

/** `: pre-approved by bob@… until …` — the one fact that explains an auto-approval. */
function headlineWhy(x: Explanation): string {
  if (x.outcome !== 'auto_approve') return '';
  // The policy engine's order: no rules, then on call, then pre-approvals.
  if (x.rules.length === 0) return ': the profile needs no approval';
  if (x.on_call?.on_call) return ': on call';
  if (x.pre_approvals.length > 0) {
    const latest = x.pre_approvals.map((p) => p.until).sort().at(-1) ?? '';
    return `: pre-approved by ${x.pre_approvals.map((p) => p.by).join(', ')} until ${latest}`;
  }
  return '';
}
