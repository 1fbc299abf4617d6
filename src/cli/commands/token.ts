import type { Verb } from '../command.ts';
import { opt } from '../command.ts';
import type { CreatedToken, ListOf, TokenInfo } from '../api-types.ts';
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
  list: {
    usage: 'token list',
    description: 'List API tokens (admins: all; others: your own). Secrets are never shown: they are not stored.',
    run: async (ctx) => {
      const { items } = await (await ctx.client()).get<ListOf<TokenInfo>>('/tokens');
      if (ctx.json) {
        ctx.out.value({ items });
        return 0;
      }
      if (items.length === 0) {
        ctx.out.info('no tokens');
        return 0;
      }
      const state = (t: TokenInfo) => (t.revoked_at ? 'revoked' : t.expires_at && t.expires_at <= new Date().toISOString() ? 'expired' : 'active');
      ctx.out.table(
        ['ID', 'STATE', 'USER', 'LABEL', 'CREATED', 'EXPIRES', 'BY'],
        items.map((t) => [t.id, state(t), t.user, t.label ?? '', relative(t.created_at), t.expires_at ? relative(t.expires_at) : 'never', t.created_by]),
      );
      return 0;
    },
  },
  revoke: {
    usage: 'token revoke ID [--config FILE]',
    description: [
      'Revoke an API token at once (admins: any; others: your own).',
      'With --config, works directly on the server host without a token (e.g. a leaked admin token).',
    ].join('\n'),
    args: ['ID'],
    options: {
      config: { type: 'string', value: 'FILE', help: 'revoke offline through this server config instead of via the API' },
    },
    run: async (ctx) => {
      const id = ctx.args[0];
      if (!id) throw usageError('missing token ID (tok_…); see keyshift token list');
      const config = opt(ctx, 'config');
      let revoked: TokenInfo;
      if (config !== undefined) {
        const { revokeTokenOffline } = await import('../../main.ts');
        revoked = await revokeTokenOffline({ configPath: configPath(ctx.io, config), id });
      } else {
        revoked = await (await ctx.client()).post<TokenInfo>(`/tokens/${encodeURIComponent(id)}/revoke`, {});
      }
      if (ctx.json) {
        ctx.out.value(revoked);
        return 0;
      }
      ctx.out.line(`revoked token ${revoked.id} of ${revoked.user}`);
      return 0;
    },
  },
};
