import type { Command, OptionSpec, Verb } from './command.ts';
import { VERBS } from './commands/index.ts';

/** Options every command accepts; main.ts merges them into each command's parser. */
export const GLOBAL_OPTIONS: Record<string, OptionSpec> = {
  server: { type: 'string', value: 'URL', help: 'Keyshift server (env KEYSHIFT_SERVER; default http://127.0.0.1:8080)' },
  token: { type: 'string', value: 'TOKEN', help: 'API token (env KEYSHIFT_TOKEN, or the file written by keyshift login)' },
  json: { type: 'boolean', help: 'print one JSON value on stdout and nothing else' },
  help: { type: 'boolean', short: 'h', help: 'show this help' },
};

export function topHelp(): string {
  const width = Math.max(...Object.keys(VERBS).map((v) => v.length));
  const verbs = Object.entries(VERBS).map(([name, v]) => `  ${name.padEnd(width)}  ${v.summary}`);
  return [
    'keyshift: just-in-time, time-bound access',
    '',
    'usage: keyshift <command> [options]',
    '',
    'commands:',
    ...verbs,
    '',
    'global options:',
    ...optionLines(GLOBAL_OPTIONS),
    '',
    'exit codes: 0 ok, 1 failure, 2 usage error, 3 denied by policy, 4 timed out waiting',
    'run `keyshift <command> --help` for a command\'s options.',
    '',
  ].join('\n');
}

export function verbHelp(verb: Verb): string {
  const parts = Object.values(verb).map(commandHelp);
  return [...parts, 'global options:', ...optionLines(GLOBAL_OPTIONS), ''].join('\n');
}

function commandHelp(cmd: Command): string {
  const lines = [`usage: keyshift ${cmd.usage}`, '', ...cmd.description.split('\n').map((l) => `  ${l}`.trimEnd()), ''];
  if (cmd.options && Object.keys(cmd.options).length > 0) {
    lines.push('options:', ...optionLines(cmd.options), '');
  }
  return lines.join('\n');
}

function optionLines(options: Record<string, OptionSpec>): string[] {
  const heads = Object.entries(options).map(([name, o]) => {
    const short = o.short ? `-${o.short}, ` : '';
    return [`${short}--${name}${o.type === 'string' ? ` ${o.value ?? 'VALUE'}` : ''}`, o.help] as const;
  });
  const width = Math.max(...heads.map(([h]) => h.length));
  return heads.map(([h, text]) => `  ${h.padEnd(width)}  ${text}`);
}
