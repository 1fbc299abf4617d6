import type { Verb } from '../command.ts';
import { opt } from '../command.ts';
import type { AuditEvent, AuditVerification, ListOf } from '../api-types.ts';
import { checkDuration } from '../durations.ts';
import { EXIT, usageError } from '../errors.ts';
import { relative } from '../output.ts';

const FORMATS = ['table', 'json', 'csv', 'jsonl'] as const;

export const verb: Verb = {
  '': {
    usage: 'audit [--since 24h] [--until 1h] [--actor EMAIL] [--action NAME] [--incident ID] [--format table|json|csv|jsonl]',
    description: [
      'Search the audit log. --since/--until are durations back from now.',
      'csv and jsonl are printed as the server sends them, ready for a SIEM or a spreadsheet.',
    ].join('\n'),
    options: {
      since: { type: 'string', value: 'DURATION', help: 'events newer than this, e.g. 24h' },
      until: { type: 'string', value: 'DURATION', help: 'events older than this, e.g. 1h' },
      actor: { type: 'string', value: 'EMAIL', help: 'only events by this actor' },
      action: { type: 'string', value: 'NAME', help: 'only this action, e.g. grant.revoked' },
      incident: { type: 'string', value: 'ID', help: 'only events about this incident' },
      format: { type: 'string', value: 'FORMAT', help: 'table (default), json, csv or jsonl' },
    },
    run: async (ctx) => {
      const format = ctx.json ? 'json' : (opt(ctx, 'format') ?? 'table');
      if (!(FORMATS as readonly string[]).includes(format)) {
        throw usageError(`--format ${JSON.stringify(format)} is not one of ${FORMATS.join(', ')}`);
      }
      const since = opt(ctx, 'since');
      const until = opt(ctx, 'until');
      if (since) checkDuration(since, '--since');
      if (until) checkDuration(until, '--until');
      const query = { since, until, actor: opt(ctx, 'actor'), action: opt(ctx, 'action'), incident: opt(ctx, 'incident') };
      const client = await ctx.client();
      if (format === 'csv' || format === 'jsonl') {
        ctx.out.raw(await client.getText('/audit', { ...query, format }));
        return EXIT.ok;
      }
      const { items } = await client.get<ListOf<AuditEvent>>('/audit', { ...query, format: 'json' });
      if (format === 'json') ctx.out.value({ items });
      else if (items.length === 0) ctx.out.info('no audit events match');
      else {
        ctx.out.table(
          ['SEQ', 'WHEN', 'ACTION', 'ACTOR', 'SUBJECT', 'PROFILE', 'REQUEST/GRANT', 'REASON'],
          items.map((e) => [
            String(e.seq),
            relative(e.time),
            e.action,
            e.actor,
            e.subject ?? '',
            e.profile ?? '',
            e.grant_id ?? e.request_id ?? '',
            e.reason ?? '',
          ]),
        );
      }
      return EXIT.ok;
    },
  },
  verify: {
    usage: 'audit verify',
    description: 'Check the audit log\'s hash chain. Exits 1 and names the first broken link when it was edited.',
    run: async (ctx) => {
      const v = await (await ctx.client()).get<AuditVerification>('/audit/verify');
      if (ctx.json) ctx.out.value(v);
      if (v.ok) {
        ctx.out.line(`audit chain intact: ${v.checked} events checked, head ${v.head ?? '(empty)'}`);
        return EXIT.ok;
      }
      const b = v.first_broken;
      ctx.out.info(
        `audit chain BROKEN${b ? ` at seq ${b.seq} (${b.id}): ${b.problem}` : ''}; ${v.checked} events checked`,
      );
      return EXIT.failure;
    },
  },
};
