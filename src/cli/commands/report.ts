import type { Verb } from '../command.ts';
import { arg, opt } from '../command.ts';
import { usageError } from '../errors.ts';

const FORMATS = ['md', 'html', 'json'] as const;

export const verb: Verb = {
  incident: {
    usage: 'report incident ID [--format md|html|json]',
    description: 'Who had what access during incident ID, approved by whom, and when it ended (for the postmortem).',
    args: ['ID'],
    options: { format: { type: 'string', value: 'FORMAT', help: 'md (default), html or json' } },
    run: async (ctx) => {
      const format = ctx.json ? 'json' : (opt(ctx, 'format') ?? 'md');
      if (!(FORMATS as readonly string[]).includes(format)) {
        throw usageError(`--format ${JSON.stringify(format)} is not one of ${FORMATS.join(', ')}`);
      }
      const client = await ctx.client();
      const path = `/reports/incidents/${encodeURIComponent(arg(ctx, 0))}`;
      if (format === 'json') ctx.out.value(await client.get<unknown>(path, { format }));
      else ctx.out.raw(await client.getText(path, { format }));
      return 0;
    },
  },
};
