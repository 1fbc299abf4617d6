/**
 * Audit file sink (JSON lines, for a SIEM forwarder to tail). Delivery is at-least-once:
 * a cursor in the store records the last event written, so a crash between append and
 * cursor update repeats, never skips, events. Runs after commit, never inside one.
 */
import { appendFileSync, mkdirSync, openSync, fsyncSync, closeSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Store } from '../core/ports.ts';
import type { Log } from '../core/deps.ts';
import { createSerialRunner } from '../core/serial-runner.ts';

export function createFileSink(store: Store, path: string, log: Log) {
  const cursorName = `sink:file:${path}`;
  let retry: NodeJS.Timeout | null = null;

  async function drain(): Promise<void> {
    mkdirSync(dirname(path), { recursive: true });
    let after = await store.getCursor(cursorName);
    for (;;) {
      const page = await store.read.auditEvents({ afterSeq: after, limit: 500 });
      if (page.length === 0) return;
      appendFileSync(path, page.map((e) => JSON.stringify(e)).join('\n') + '\n', { mode: 0o600 });
      const fd = openSync(path, 'r');
      try {
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      after = page[page.length - 1]!.seq;
      await store.setCursor(cursorName, after);
    }
  }

  const runner = createSerialRunner(
    () =>
      drain().catch((e: unknown) => {
        log('error', 'audit file sink failed; retrying in 5 s', { path, error: e instanceof Error ? e.message : String(e) });
        if (!retry) {
          retry = setTimeout(() => {
            retry = null;
            runner.kick();
          }, 5000);
          retry.unref();
        }
      }),
    (e) => log('error', 'audit file sink failed', { path, error: String(e) }),
  );

  return {
    kick: runner.kick,
    async flush(): Promise<void> {
      await runner.idle();
      await drain();
    },
  };
}
