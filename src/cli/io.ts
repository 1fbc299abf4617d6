import { homedir } from 'node:os';

/**
 * Everything the CLI touches in its process, passed in so tests can run commands
 * in-process and capture output. Writers receive whole chunks, newlines included.
 */
export interface CliIo {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  env: Record<string, string | undefined>;
  cwd: string;
  home: string;
}

export function processIo(): CliIo {
  return {
    stdout: (s) => void process.stdout.write(s),
    stderr: (s) => void process.stderr.write(s),
    env: process.env,
    cwd: process.cwd(),
    home: homedir(),
  };
}
