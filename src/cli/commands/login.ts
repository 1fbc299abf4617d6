import type { Verb } from '../command.ts';
import { opt } from '../command.ts';
import type { Me } from '../api-types.ts';
import { usageError } from '../errors.ts';
import { createApiClient } from '../http-client.ts';
import { DEFAULT_SERVER, normalizeServer, readCredentials, writeCredentials } from '../settings.ts';

export const verb: Verb = {
  '': {
    usage: 'login [--server URL] --token TOKEN',
    description: [
      'Check an API token against the server (GET /api/v1/me) and store server and token in',
      '$XDG_CONFIG_HOME/keyshift/credentials.json (else ~/.config/keyshift/credentials.json),',
      'readable only by you (0600). Later commands use it when no --token/KEYSHIFT_TOKEN is given.',
      'Browser (OIDC) login is not available in the CLI yet; ask an admin for a token',
      '(keyshift token create) in the meantime.',
    ].join('\n'),
    run: async (ctx) => {
      const token = opt(ctx, 'token') || ctx.io.env.KEYSHIFT_TOKEN;
      if (!token) {
        throw usageError('browser (OIDC) login is not available in the CLI yet; pass --token TOKEN');
      }
      const stored = await readCredentials(ctx.io).catch(() => null);
      const server = normalizeServer(opt(ctx, 'server') || ctx.io.env.KEYSHIFT_SERVER || stored?.server || DEFAULT_SERVER);
      const me = await createApiClient({ server, token }).get<Me>('/me');
      const path = await writeCredentials(ctx.io, { server, token });
      if (ctx.json) ctx.out.value({ server, email: me.email, groups: me.groups, admin: me.admin, credentials_file: path });
      else ctx.out.line(`logged in to ${server} as ${me.email}; token stored in ${path}`);
      return 0;
    },
  },
};
