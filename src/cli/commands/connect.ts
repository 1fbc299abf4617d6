import { spawn } from 'node:child_process';
import { join } from 'node:path';
import type { CommandContext, Verb } from '../command.ts';
import { arg } from '../command.ts';
import type { IssuedCredentials } from '../api-types.ts';
import {
  clientEnv,
  flavorOf,
  grantTarget,
  issue,
  principals,
  readPublicKey,
  writeCertificate,
} from '../credentials.ts';
import { localError, usageError } from '../errors.ts';
import { relative } from '../output.ts';

interface Launch {
  program: string;
  argv: string[];
  env: Record<string, string>;
}

export const verb: Verb = {
  '': {
    usage: 'connect GRANT [-- ARGS...]',
    description: [
      'Get fresh credentials for your active grant and run the matching client with them:',
      '  PostgreSQL: psql [ARGS], with PGHOST/PGPORT/PGDATABASE/PGUSER/PGPASSWORD in its environment',
      '  MySQL:      mysql --user U [ARGS] DATABASE, with MYSQL_HOST/MYSQL_TCP_PORT/MYSQL_PWD',
      '  SSH:        keyshift connect GRANT -- HOST[:PORT] [COMMAND...]; signs ~/.ssh/id_ed25519.pub',
      '              and runs ssh -i ~/.ssh/id_ed25519 -o CertificateFile=… PRINCIPAL@HOST',
      'Passwords travel only through the environment, never on the command line (where other',
      'users could read them in ps). Exits with the client\'s exit code.',
    ].join('\n'),
    args: ['GRANT'],
    extra: 'ARGS',
    run: async (ctx) => {
      const client = await ctx.client();
      const grantId = arg(ctx, 0);
      const target = await grantTarget(client, grantId);
      const isSsh = target.connectorType === 'ssh';
      if (isSsh && ctx.extra.length === 0) throw usageError('which host? usage: keyshift connect GRANT -- HOST[:PORT]');
      const keyPath = join(ctx.io.home, '.ssh', 'id_ed25519.pub');
      const issued = await issue(client, grantId, isSsh ? await readPublicKey(keyPath) : undefined);
      const launch = await plan(ctx, issued, target.connectorType, keyPath);
      ctx.out.info(`connecting with ${launch.program} (credentials expire ${relative(issued.expires_at)})`);
      return run(ctx, launch);
    },
  },
};

async function plan(
  ctx: CommandContext,
  issued: IssuedCredentials,
  connectorType: string | null,
  publicKeyPath: string,
): Promise<Launch> {
  const flavor = flavorOf(issued, connectorType);
  const env = clientEnv(issued, flavor);
  switch (flavor) {
    case 'postgres':
      return { program: 'psql', argv: ctx.extra, env };
    case 'mysql': {
      // The user and database are not secrets and mysql has no variable for them.
      const { MYSQL_USER: user, MYSQL_DATABASE: database, ...rest } = env;
      const argv = [...(user ? [`--user=${user}`] : []), ...ctx.extra, ...(database ? [database] : [])];
      return { program: 'mysql', argv, env: rest };
    }
    case 'ssh': {
      const cert = await writeCertificate(issued, publicKeyPath);
      const [host = '', ...command] = ctx.extra;
      const principal = principals(issued)[0];
      if (!principal) throw localError('NO_PRINCIPAL', 'the SSH certificate names no principal to log in as');
      // ssh://user@host:port is the one destination form that carries a port.
      const destination = /:\d+$/.test(host) ? `ssh://${principal}@${host}` : `${principal}@${host}`;
      const identity = publicKeyPath.replace(/\.pub$/, '');
      return {
        program: 'ssh',
        argv: ['-i', identity, '-o', `CertificateFile=${cert}`, destination, ...command],
        env: {},
      };
    }
    case 'other':
      throw localError('NO_CLIENT', `keyshift connect cannot run a client for ${issued.kind} credentials; use keyshift creds`);
  }
}

/** Runs the client attached to this terminal and hands back its exit code. */
function run(ctx: CommandContext, launch: Launch): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(launch.program, launch.argv, {
      stdio: 'inherit',
      env: { ...ctx.io.env, ...launch.env },
      cwd: ctx.io.cwd,
    });
    // Ctrl-C belongs to the client (psql cancels a query); we just wait for it to exit.
    const ignore = () => {};
    process.on('SIGINT', ignore);
    const done = () => process.off('SIGINT', ignore);
    child.on('error', (e: NodeJS.ErrnoException) => {
      done();
      reject(
        e.code === 'ENOENT'
          ? localError('CLIENT_NOT_FOUND', `${launch.program} is not installed or not on PATH`)
          : localError('CLIENT_FAILED', `cannot run ${launch.program}: ${e.message}`),
      );
    });
    child.on('exit', (code, signal) => {
      done();
      resolvePromise(code ?? 128 + (signal ? signalNumber(signal) : 0));
    });
  });
}

function signalNumber(signal: NodeJS.Signals): number {
  const numbers: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGTERM: 15 };
  return numbers[signal] ?? 1;
}
