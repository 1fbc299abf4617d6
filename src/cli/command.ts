import type { ApiClient } from './http-client.ts';
import type { CliIo } from './io.ts';
import type { Output } from './output.ts';

/** One option of a command; `value` names the argument in help (`--for DURATION`). */
export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  value?: string;
  help: string;
}

export type ParsedValues = Record<string, string | boolean | undefined>;

/**
 * What a command's run() gets: parsed flags, its positional arguments (already counted
 * against `args`), anything after `--`, and lazily-built access to the API so local
 * verbs (init, serve, config check) never need a server or a token.
 */
export interface CommandContext {
  io: CliIo;
  out: Output;
  values: ParsedValues;
  args: string[];
  extra: string[];
  json: boolean;
  /** The API client; throws a usage/auth error if no server or token can be resolved. */
  client: () => Promise<ApiClient>;
}

export interface Command {
  /** Usage lines after `keyshift `, e.g. `request PROFILE [--for 2h]`. */
  usage: string;
  description: string;
  /** Positional argument names; a trailing `?` marks an optional one. */
  args?: string[];
  options?: Record<string, OptionSpec>;
  /** Accepts arguments after `--` (passed through to a program, e.g. connect). */
  extra?: string;
  run: (ctx: CommandContext) => Promise<number>;
}

/** A verb maps sub-command names to commands; '' is the verb on its own. */
export type Verb = Record<string, Command>;

/** A string flag's value, or undefined when it was not given. */
export function opt(ctx: CommandContext, name: string): string | undefined {
  const v = ctx.values[name];
  return typeof v === 'string' ? v : undefined;
}

/** A positional argument main.ts has already checked is present. */
export function arg(ctx: CommandContext, i: number): string {
  return ctx.args[i] ?? '';
}
