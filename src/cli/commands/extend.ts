import type { Verb } from '../command.ts';
import { arg, opt } from '../command.ts';
import type { Grant, IssuedCredentials } from '../api-types.ts';
import { defaultPublicKey, expandPath } from '../credentials.ts';
import { checkDuration } from '../durations.ts';
import { usageError } from '../errors.ts';
import { printGrant } from '../views.ts';
import { printCredentials } from './creds.ts';

export const verb: Verb = {
  '': {
    usage: 'extend GRANT --by 30m [--reason TEXT] [--public-key FILE]',
    description: [
      'Extend your active grant, within the profile\'s extend limits.',
      'When the connector re-issues credentials (SSH: a certificate with the new end), they are',
      'written / printed as keyshift creds does; --public-key names the key the certificate is for.',
    ].join('\n'),
    args: ['GRANT'],
    options: {
      by: { type: 'string', value: 'DURATION', help: 'how much longer, e.g. 30m (required)' },
      reason: { type: 'string', value: 'TEXT', help: 'why more time is needed' },
      'public-key': { type: 'string', value: 'FILE', help: 'SSH: where the new certificate goes (default ~/.ssh/id_ed25519.pub)' },
    },
    run: async (ctx) => {
      const by = opt(ctx, 'by');
      if (!by) throw usageError('missing --by DURATION, e.g. keyshift extend GRANT --by 30m');
      checkDuration(by, '--by');
      const result = await (await ctx.client()).post<{ grant: Grant; credentials: IssuedCredentials | null }>(
        `/grants/${encodeURIComponent(arg(ctx, 0))}/extend`,
        { duration: by, reason: opt(ctx, 'reason') },
      );
      if (ctx.json) {
        ctx.out.value(result);
        return 0;
      }
      printGrant(ctx.out, result.grant);
      if (result.credentials) {
        const key = opt(ctx, 'public-key');
        await printCredentials(ctx, result.credentials, null, 'env', key ? expandPath(ctx.io, key) : defaultPublicKey(ctx.io));
      }
      return 0;
    },
  },
};
