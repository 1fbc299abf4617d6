import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';

const bin = fileURLToPath(new URL('../../bin/keyshift', import.meta.url));

describe('bin/keyshift', () => {
  it('runs the CLI as a program: --help exits 0, a usage error exits 2', () => {
    const help = spawnSync(process.execPath, [bin, '--help'], { encoding: 'utf8' });
    assert.equal(help.status, 0, help.stderr);
    assert.match(help.stdout, /usage: keyshift <command>/);
    const bad = spawnSync(process.execPath, [bin, 'request', 'db-read', '--for', 'forever'], { encoding: 'utf8' });
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /--for "forever" is not a duration/);
  });
});
