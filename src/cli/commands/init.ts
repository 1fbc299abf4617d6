import type { Verb } from '../command.ts';
import { opt } from '../command.ts';
import { configPath } from '../settings.ts';

export const verb: Verb = {
  '': {
    usage: 'init [--config FILE] [--force]',
    description: [
      'Write a starter keyshift.yaml, create the SSH CA key and print an API token for each example user',
      '(shown once). Leaves an existing config alone unless --force.',
    ].join('\n'),
    options: {
      config: { type: 'string', value: 'FILE', help: 'where to write it (env KEYSHIFT_CONFIG; default ./keyshift.yaml)' },
      force: { type: 'boolean', help: 'overwrite an existing config' },
    },
    run: async (ctx) => {
      const { initProject } = await import('../../config/init.ts');
      const result = await initProject({ configPath: configPath(ctx.io, opt(ctx, 'config')), force: ctx.values.force === true });
      if (ctx.json) {
        ctx.out.value(result);
        return 0;
      }
      if (!result.created) {
        ctx.out.info(`${result.configPath} already exists; left unchanged (use --force to overwrite)`);
        return 0;
      }
      ctx.out.line(`wrote ${result.configPath}`);
      for (const t of result.tokens) {
        ctx.out.line(`API token for ${t.user} (shown once; store it, e.g. keyshift login --token …):`);
        ctx.out.line(`  ${t.token}`);
      }
      ctx.out.info('next: keyshift config check, then keyshift serve');
      return 0;
    },
  },
};
