import type { Verb } from '../command.ts';
import { opt } from '../command.ts';
import type { Grant, ListOf } from '../api-types.ts';
import { usageError } from '../errors.ts';
import { GRANT_HEADERS, grantRows } from '../views.ts';
import { GRANT_STATES } from '../../core/model.ts';

export const verb: Verb = {
  '': {
    usage: 'grants [--all] [--state STATE] [--user EMAIL]',
    description: 'List grants: yours by default, everyone\'s with --all (admins).',
    options: {
      all: { type: 'boolean', help: 'grants of all users you may see' },
      state: { type: 'string', value: 'STATE', help: `one of ${GRANT_STATES.join(', ')}` },
      user: { type: 'string', value: 'EMAIL', help: 'only this user\'s grants' },
    },
    run: async (ctx) => {
      const state = opt(ctx, 'state');
      if (state && !(GRANT_STATES as readonly string[]).includes(state)) {
        throw usageError(`--state ${JSON.stringify(state)} is not one of ${GRANT_STATES.join(', ')}`);
      }
      const { items } = await (await ctx.client()).get<ListOf<Grant>>('/grants', {
        state,
        user: opt(ctx, 'user'),
        all: ctx.values.all === true,
      });
      if (ctx.json) ctx.out.value({ items });
      else if (items.length === 0) ctx.out.info('no grants');
      else ctx.out.table(GRANT_HEADERS, grantRows(items));
      return 0;
    },
  },
};
