import type { Verb } from '../command.ts';
import { opt } from '../command.ts';
import { configPath } from '../settings.ts';

export const verb: Verb = {
  '': {
    usage: 'serve [--config FILE] [--init]',
    description: 'Run the Keyshift server (API, web UI, expiry and notification workers) until stopped.',
    options: {
      config: { type: 'string', value: 'FILE', help: 'server config (env KEYSHIFT_CONFIG; default ./keyshift.yaml)' },
      init: { type: 'boolean', help: 'write a starter config first when none exists' },
    },
    run: async (ctx) => {
      const { serve } = await import('../../main.ts');
      await serve({ configPath: configPath(ctx.io, opt(ctx, 'config')), init: ctx.values.init === true });
      return 0;
    },
  },
};
