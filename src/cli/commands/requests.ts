import type { Verb } from '../command.ts';
import { opt } from '../command.ts';
import type { AccessRequest, ListOf } from '../api-types.ts';
import { usageError } from '../errors.ts';
import { REQUEST_HEADERS, requestRows } from '../views.ts';
import { REQUEST_STATES } from '../../core/model.ts';

export const verb: Verb = {
  '': {
    usage: 'requests [--pending] [--mine] [--to-review] [--state STATE]',
    description: 'List access requests you can see: yours, and those you may decide on.',
    options: {
      pending: { type: 'boolean', help: 'only pending requests (same as --state pending)' },
      mine: { type: 'boolean', help: 'only requests you made' },
      'to-review': { type: 'boolean', help: 'only requests waiting for your approval' },
      state: { type: 'string', value: 'STATE', help: `one of ${REQUEST_STATES.join(', ')}` },
    },
    run: async (ctx) => {
      const state = ctx.values.pending ? 'pending' : opt(ctx, 'state');
      if (state && !(REQUEST_STATES as readonly string[]).includes(state)) {
        throw usageError(`--state ${JSON.stringify(state)} is not one of ${REQUEST_STATES.join(', ')}`);
      }
      const { items } = await (await ctx.client()).get<ListOf<AccessRequest>>('/requests', {
        state,
        mine: ctx.values.mine === true,
        to_review: ctx.values['to-review'] === true,
      });
      if (ctx.json) ctx.out.value({ items });
      else if (items.length === 0) ctx.out.info('no requests');
      else ctx.out.table(REQUEST_HEADERS, requestRows(items));
      return 0;
    },
  },
};
