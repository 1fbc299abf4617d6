import type { Verb } from '../command.ts';
import { opt } from '../command.ts';
import type { CreatedToken } from '../api-types.ts';
import { checkDuration, durationSeconds } from '../durations.ts';
import { usageError } from '../errors.ts';
import { relative } from '../output.ts';
import { configPath } from '../settings.ts';

export const verb: Verb = {
  create: {
    usage: 'token create --user EMAIL [--ttl 30d] [--label TEXT] [--config FILE]',
    description: [
      'Issue an API token for USER (admins). The token is printed once, alone on stdout,',
      'so T=$(keyshift token create …) captures it; it cannot be shown again.',
      'With --config, works directly on the server host from keyshift.yaml, without a token',
      '(to bootstrap the first admin, like tctl).',
    ].join('\n'),
    options: {
      user: { type: 'string', value: 'EMAIL', help: 'who the token authenticates as (required)' },
      ttl: { type: 'string', value: 'DURATION', help: 'lifetime, e.g. 30d (default: the server\'s)' },
      label: { type: 'string', value: 'TEXT', help: 'a note to recognise the token by, e.g. "ci"' },
      config: { type: 'string', value: 'FILE', help: 'create offline from this server config instead of via the API' },
    },
    run: async (ctx) => {
      const user = opt(ctx, 'user');
      if (!user) throw usageError('missing --user EMAIL');
      const ttl = opt(ctx, 'ttl');
      const ttlSeconds = ttl ? durationSeconds(checkDuration(ttl, '--ttl'), '--ttl') : null;
      const label = opt(ctx, 'label') ?? null;
      const config = opt(ctx, 'config');
      let created: CreatedToken;
      if (config !== undefined) {
        const { createTokenOffline } = await import('../../main.ts');
        created = await createTokenOffline({ configPath: configPath(ctx.io, config), user, ttlSeconds, label });
      } else {
        created = await (await ctx.client()).post<CreatedToken>('/tokens', { user, ttl, label: label ?? undefined });
      }
      if (ctx.json) {
        ctx.out.value(created);
        return 0;
      }
      const expiry = created.expires_at ? `expires ${relative(created.expires_at)}` : 'does not expire';
      ctx.out.info(`token ${created.id} for ${created.user}, ${expiry}; it is shown only this once:`);
      ctx.out.raw(`${created.token}\n`);
      return 0;
    },
  },
};
