import type { CommandContext, Verb } from '../command.ts';
import { arg, opt } from '../command.ts';
import type { IssuedCredentials } from '../api-types.ts';
import {
  clientEnv,
  defaultPublicKey,
  expandPath,
  flavorOf,
  grantTarget,
  issue,
  principals,
  readPublicKey,
  shellQuote,
  writeCertificate,
} from '../credentials.ts';
import { localError, usageError } from '../errors.ts';
import { relative } from '../output.ts';

const FORMATS = ['env', 'json', 'uri'] as const;
type Format = (typeof FORMATS)[number];

export const verb: Verb = {
  '': {
    usage: 'creds GRANT [--public-key FILE] [--format env|json|uri]',
    description: [
      'Issue credentials for your active grant. They are shown once and never stored by Keyshift.',
      'Databases: a fresh password, printed as shell exports (eval "$(keyshift creds GRANT)"),',
      '  as JSON, or as a connection URI.',
      'SSH: signs your public key (default ~/.ssh/id_ed25519.pub) and writes the certificate',
      '  next to it as id_ed25519-cert.pub, where ssh finds it on its own.',
    ].join('\n'),
    args: ['GRANT'],
    options: {
      'public-key': { type: 'string', value: 'FILE', help: 'SSH public key to sign (default ~/.ssh/id_ed25519.pub)' },
      format: { type: 'string', value: 'FORMAT', help: 'env (default), json or uri' },
    },
    run: async (ctx) => {
      const format = parseFormat(ctx);
      const client = await ctx.client();
      const grantId = arg(ctx, 0);
      const target = await grantTarget(client, grantId);
      const keyFlag = opt(ctx, 'public-key');
      const isSsh = target.connectorType === 'ssh' || keyFlag !== undefined;
      const keyPath = keyFlag ? expandPath(ctx.io, keyFlag) : defaultPublicKey(ctx.io);
      const issued = await issue(client, grantId, isSsh ? await readPublicKey(keyPath) : undefined);
      await printCredentials(ctx, issued, target.connectorType, format, keyPath);
      return 0;
    },
  },
};

function parseFormat(ctx: CommandContext): Format {
  const f = ctx.json ? 'json' : (opt(ctx, 'format') ?? 'env');
  if (!(FORMATS as readonly string[]).includes(f)) {
    throw usageError(`--format ${JSON.stringify(f)} is not one of ${FORMATS.join(', ')}`);
  }
  return f as Format;
}

/** Shared with extend, which may receive re-issued credentials. */
export async function printCredentials(
  ctx: CommandContext,
  issued: IssuedCredentials,
  connectorType: string | null,
  format: Format,
  publicKeyPath: string,
): Promise<void> {
  const flavor = flavorOf(issued, connectorType);
  if (flavor === 'ssh') {
    const path = await writeCertificate(issued, publicKeyPath);
    const who = principals(issued).join(', ') || '(none)';
    ctx.out.info(`wrote SSH certificate ${path} (principals: ${who}; expires ${relative(issued.expires_at)})`);
    if (format === 'json') ctx.out.value({ ...issued, certificate_file: path });
    else ctx.out.raw(`${path}\n`);
    return;
  }
  if (format === 'json') {
    ctx.out.value(issued);
    return;
  }
  ctx.out.info(`credentials for ${issued.grant_id}, valid until ${issued.expires_at} (${relative(issued.expires_at)})`);
  if (format === 'uri') {
    if (issued.credentials.uri === undefined) throw localError('NO_URI', 'these credentials have no URI; use --format env or json');
    ctx.out.raw(`${String(issued.credentials.uri)}\n`);
    return;
  }
  const env = clientEnv(issued, flavor);
  ctx.out.raw(Object.entries(env).map(([k, v]) => `export ${k}=${shellQuote(v)}\n`).join(''));
}
