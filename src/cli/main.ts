import { parseArgs } from 'node:util';
import type { Command, CommandContext, OptionSpec, ParsedValues } from './command.ts';
import { VERBS } from './commands/index.ts';
import { CliError, EXIT, localError, usageError } from './errors.ts';
import { GLOBAL_OPTIONS, topHelp, verbHelp } from './help.ts';
import { createApiClient } from './http-client.ts';
import { type CliIo, processIo } from './io.ts';
import { createOutput } from './output.ts';
import { resolveSettings } from './settings.ts';

export type { CliIo } from './io.ts';

/** Global options that take a value, so the verb search can skip their values. */
const VALUE_GLOBALS = new Set(['--server', '--token']);

/**
 * Runs one `keyshift` invocation and returns its exit code. Never throws: every error
 * ends as `error: <message> (<CODE>)` on stderr, or the error object on stdout with --json.
 */
export async function runCli(argv: string[], io: CliIo = processIo()): Promise<number> {
  const json = ownArgs(argv).includes('--json');
  try {
    return await dispatch(argv, io);
  } catch (e) {
    const err = e instanceof CliError ? e : internal(e, io);
    if (json) io.stdout(`${JSON.stringify({ error: err.body }, null, 2)}\n`);
    else io.stderr(`error: ${err.message} (${err.code})\n`);
    if (err.exitCode === EXIT.usage && !json) io.stderr(`run \`keyshift ${helpTopic(argv)}--help\` for usage\n`);
    return err.exitCode;
  }
}

async function dispatch(argv: string[], io: CliIo): Promise<number> {
  const verbAt = findVerb(argv);
  const wantsHelp = ownArgs(argv).some((a) => a === '--help' || a === '-h');
  if (verbAt === -1 || argv[verbAt] === 'help') {
    const topic = verbAt === -1 ? undefined : argv[verbAt + 1];
    const topicEntry = topic ? lookup(VERBS, topic) : undefined;
    if (topicEntry) {
      io.stdout(verbHelp(await topicEntry.load()));
      return EXIT.ok;
    }
    if (wantsHelp || verbAt !== -1) {
      io.stdout(topHelp());
      return EXIT.ok;
    }
    io.stderr(topHelp());
    return EXIT.usage;
  }
  const name = argv[verbAt] as string;
  const entry = lookup(VERBS, name);
  if (!entry) throw usageError(`unknown command ${JSON.stringify(name)}${suggest(name)}`);
  const verb = await entry.load();

  const subName = argv[verbAt + 1];
  const sub = subName && lookup(verb, subName) ? subName : '';
  const cmd = lookup(verb, sub);
  if (!cmd) {
    if (wantsHelp) {
      io.stdout(verbHelp(verb));
      return EXIT.ok;
    }
    const subs = Object.keys(verb).join(', ');
    throw usageError(`keyshift ${name} needs a sub-command: ${subs}${subName ? ` (got ${JSON.stringify(subName)})` : ''}`);
  }
  const rest = argv.filter((_, i) => i !== verbAt && !(sub && i === verbAt + 1));
  const parsed = parse(rest, cmd);
  if (parsed.values.help) {
    io.stdout(verbHelp(verb));
    return EXIT.ok;
  }
  checkArguments(parsed, cmd);
  return cmd.run(context(io, parsed));
}

/** Own keys only: `keyshift toString` is an unknown command, not Object.prototype's. */
function lookup<T>(table: Record<string, T>, key: string): T | undefined {
  return Object.hasOwn(table, key) ? table[key] : undefined;
}

/** The arguments before `--`; what follows belongs to the program connect runs. */
function ownArgs(argv: string[]): string[] {
  const end = argv.indexOf('--');
  return end === -1 ? argv : argv.slice(0, end);
}

/** The first word that is not an option or a global option's value. */
function findVerb(argv: string[]): number {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '--') return -1;
    if (VALUE_GLOBALS.has(a)) i++;
    else if (!a.startsWith('-')) return i;
  }
  return -1;
}

interface Parsed {
  values: ParsedValues;
  args: string[];
  extra: string[];
}

function parse(args: string[], cmd: Command): Parsed {
  const specs: Record<string, OptionSpec> = { ...GLOBAL_OPTIONS, ...cmd.options };
  const options = Object.fromEntries(
    Object.entries(specs).map(([k, o]) => [k, o.short ? { type: o.type, short: o.short } : { type: o.type }]),
  );
  let result;
  try {
    result = parseArgs({ args, options, strict: true, allowPositionals: true, tokens: true });
  } catch (e) {
    throw usageError((e as Error).message.replace(/\. To specify a positional argument.*$/s, '').replace(/\s*\n\s*/g, ' '));
  }
  // Positionals after `--` go to the program connect runs, not to us.
  const terminator = result.tokens.find((t) => t.kind === 'option-terminator')?.index ?? Infinity;
  const positional = result.tokens.filter((t) => t.kind === 'positional');
  const own = positional.filter((t) => t.index < terminator).map((t) => t.value);
  const extra = positional.filter((t) => t.index > terminator).map((t) => t.value);

  return { values: result.values as ParsedValues, args: own, extra };
}

/** Counts positionals against the command's `args`; runs after --help so help always works. */
function checkArguments(parsed: Parsed, cmd: Command): void {
  const names = cmd.args ?? [];
  const required = names.filter((n) => !n.endsWith('?'));
  if (parsed.args.length < required.length) {
    throw usageError(`missing ${required.slice(parsed.args.length).join(' ')}; usage: keyshift ${cmd.usage}`);
  }
  if (parsed.args.length > names.length) {
    throw usageError(`unexpected argument ${JSON.stringify(parsed.args[names.length])}; usage: keyshift ${cmd.usage}`);
  }
  if (parsed.extra.length > 0 && !cmd.extra) {
    throw usageError(`this command takes no arguments after --; usage: keyshift ${cmd.usage}`);
  }
}

function context(io: CliIo, parsed: Parsed): CommandContext {
  const json = parsed.values.json === true;
  const flags = { server: str(parsed.values.server), token: str(parsed.values.token) };
  return {
    io,
    out: createOutput(io, json),
    values: parsed.values,
    args: parsed.args,
    extra: parsed.extra,
    json,
    client: async () => {
      const settings = await resolveSettings(io, flags);
      if (!settings.token) {
        throw new CliError(
          {
            code: 'UNAUTHENTICATED',
            message: `no API token for ${settings.server}: pass --token, set KEYSHIFT_TOKEN, or run keyshift login`,
          },
          EXIT.failure,
        );
      }
      return createApiClient({ server: settings.server, token: settings.token });
    },
  };
}

/** `request ` when the verb is known, so the hint points at the right help page. */
function helpTopic(argv: string[]): string {
  const at = findVerb(argv);
  const name = at === -1 ? undefined : argv[at];
  return name && lookup(VERBS, name) ? `${name} ` : '';
}

function str(v: string | boolean | undefined): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

function suggest(name: string): string {
  const close = Object.keys(VERBS).filter((v) => v.startsWith(name.slice(0, 3)) || name.startsWith(v));
  return close.length > 0 ? `; did you mean ${close.join(' or ')}?` : '';
}

/** A bug, not a user error: a short message, and the stack only when asked for. */
function internal(e: unknown, io: CliIo): CliError {
  if (io.env.KEYSHIFT_DEBUG && e instanceof Error && e.stack) io.stderr(`${e.stack}\n`);
  return localError('INTERNAL', e instanceof Error ? e.message : String(e));
}
